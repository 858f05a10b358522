"""Issue #16 item 6: the SES/SNS adapter fetches only Amazon's certificate path (no query, no
other path), keeps a bounded cache, and answers a failed fetch with a 4xx that is counted,
never a 500."""

from __future__ import annotations

from prometheus_client import REGISTRY
from yarl import URL

from services.status_ingest.providers import base
from services.status_ingest.providers.ses import CERTIFICATES_KEPT, Ses
from tests.status_ingest import payloads as p
from tests.status_ingest.conftest import Ingest


def _failures(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "blindpost_status_sns_certificate_failures_total", {"reason": reason}
    )
    return value or 0.0


def _inbound(signed: p.Signed) -> base.Inbound:
    return base.Inbound("POST", "https://x/webhooks/ses", signed.headers, {}, signed.body)


async def test_only_the_certificate_path_is_fetched(ingest: Ingest, sns_stand_in) -> None:
    message = {"notificationType": "Delivery", "mail": {"messageId": "m-1"}}
    for variant in (
        p.CERT_URL + "?v=1",
        p.CERT_URL + "#x",
        "https://sns.eu-west-1.amazonaws.com/anything-else.pem",
        "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    ):
        status, _ = await ingest.send("/webhooks/ses", p.sns(message, cert_url=variant))
        assert status == 401, variant
    assert sns_stand_in.fetched == []
    assert (await ingest.send("/webhooks/ses", p.sns(message)))[0] == 200


async def test_the_certificate_cache_is_bounded() -> None:
    fetched: list[URL] = []

    async def fetch(url: URL) -> bytes:
        fetched.append(url)
        return p.SNS_CERT_PEM

    ses = Ses([p.TOPIC_ARN], fetch)
    message = {"notificationType": "Delivery", "mail": {"messageId": "m-1"}}
    for n in range(CERTIFICATES_KEPT * 4):
        url = f"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-{n:016x}.pem"
        await ses.signature(_inbound(p.sns(message, cert_url=url)))
    assert len(fetched) == CERTIFICATES_KEPT * 4
    assert len(ses._certificates) <= CERTIFICATES_KEPT


async def test_a_failed_fetch_is_a_counted_4xx(ingest: Ingest, sns_stand_in) -> None:
    before = _failures("fetch")
    message = {"notificationType": "Delivery", "mail": {"messageId": "m-2"}}
    sns_stand_in.port = 1  # nothing listens there: the fetch fails
    status, _ = await ingest.send("/webhooks/ses", p.sns(message))
    assert status == 401
    assert _failures("fetch") == before + 1
