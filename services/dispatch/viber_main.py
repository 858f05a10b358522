"""``blindpost run dispatch-viber``: Viber through Viber's own bot API or the generic HTTP
provider."""

from services.dispatch.family import Family
from services.dispatch.providers import generic, viber
from services.dispatch.settings import ViberSettings

VIBER = Family(ViberSettings, {"generic": generic.build, "viber": viber.build})
create_viber_app = VIBER.create_app
main = VIBER.main
