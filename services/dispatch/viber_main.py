"""``blindpost run dispatch-viber``: Viber through its provider."""

from services.dispatch.family import Family
from services.dispatch.providers import generic
from services.dispatch.settings import ViberSettings

VIBER = Family(ViberSettings, {"generic": generic.build})
create_viber_app = VIBER.create_app
main = VIBER.main
