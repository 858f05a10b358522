"""Stand-ins for the outside world on a developer's machine (``make up`` and the tests): an
SMTP sink, and Smartico's callback endpoint with a generic SMS provider and a custom-IM
receiver.  Never deployed: the production image installs without the ``local`` extra they
need (aiosmtpd), and the Helm chart has no Deployment for them."""
