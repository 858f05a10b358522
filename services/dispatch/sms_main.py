"""``blindpost run dispatch-sms``: SMS, Viber and WhatsApp through their providers."""

from services.dispatch.family import Family
from services.dispatch.providers import generic, meta_whatsapp, twilio, vonage
from services.dispatch.settings import SmsSettings

SMS = Family(
    SmsSettings,
    {
        "generic": generic.build,
        "twilio": twilio.build,
        "vonage": vonage.build,
        "meta": meta_whatsapp.build,
    },
)
create_sms_app = SMS.create_app
main = SMS.main
