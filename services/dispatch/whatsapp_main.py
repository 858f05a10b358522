"""``blindpost run dispatch-whatsapp``: WhatsApp through Twilio, Meta's Cloud API or the
generic HTTP provider."""

from services.dispatch.family import Family
from services.dispatch.providers import generic, meta_whatsapp, twilio
from services.dispatch.settings import WhatsAppSettings

WHATSAPP = Family(
    WhatsAppSettings,
    {"generic": generic.build, "twilio": twilio.build, "meta": meta_whatsapp.build},
)
create_whatsapp_app = WHATSAPP.create_app
main = WHATSAPP.main
