"""``blindpost run dispatch-email``: e-mail over SMTP (default), SendGrid or Mailgun."""

from services.dispatch.family import Family
from services.dispatch.providers import mailgun, sendgrid, smtp
from services.dispatch.settings import EmailSettings

EMAIL = Family(
    EmailSettings,
    {"smtp": smtp.build, "sendgrid": sendgrid.build, "mailgun": mailgun.build},
)
create_email_app = EMAIL.create_app
main = EMAIL.main
