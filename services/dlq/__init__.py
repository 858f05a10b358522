"""Dead letters: what every stage set aside, listed, shown and re-driven (``blindpost dlq``)."""
