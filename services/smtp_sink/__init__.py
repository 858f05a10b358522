"""The bundled SMTP sink for the local stack: mail sent to it lands as .eml files."""
