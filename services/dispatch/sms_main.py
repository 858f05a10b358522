"""``blindpost run dispatch-sms``: SMS through its provider."""

from services.dispatch.family import Family
from services.dispatch.providers import generic, twilio, vonage
from services.dispatch.settings import SmsSettings

SMS = Family(
    SmsSettings,
    {"generic": generic.build, "twilio": twilio.build, "vonage": vonage.build},
)
create_sms_app = SMS.create_app
main = SMS.main
