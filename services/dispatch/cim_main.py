"""``blindpost run dispatch-cim``: custom IM to the operator's notification centre."""

from services.dispatch.family import Family
from services.dispatch.providers import cim
from services.dispatch.settings import CimSettings

CIM = Family(CimSettings, {"cim": cim.build})
create_cim_app = CIM.create_app
main = CIM.main
