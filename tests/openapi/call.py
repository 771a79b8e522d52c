"""Real calls to a running router through the client openapi-python-client generated.

    python call.py GENERATED_DIR ADMIN_URL      (SWITCHYARD_ADMIN_TOKEN in the environment)

GENERATED_DIR holds the generated package `switchyard_client`. The calls go
through the generated functions and models only, so what comes back has been
parsed by the models the document describes: a document that disagrees with the
wire fails here. Prints what the client got as one line of JSON, for
tests/openapi.rs to compare with the raw answers; check.sh runs it.
"""

import json
import os
import sys

sys.path.insert(0, sys.argv[1])

from switchyard_client import AuthenticatedClient, Client  # noqa: E402
from switchyard_client.api.deliveries import get_delivery, list_deliveries  # noqa: E402
from switchyard_client.api.operations import healthz  # noqa: E402
from switchyard_client.api.webhooks import list_webhooks  # noqa: E402
from switchyard_client.models import Delivery, PageDelivery, PageWebhook, Status  # noqa: E402
from switchyard_client.types import Unset  # noqa: E402


def expect(value, kind):
    """`value`, which must be a `kind`: an Error model or None means the call failed."""
    if not isinstance(value, kind):
        sys.exit(f"call.py: expected {kind.__name__}, got {value!r}")
    return value


def headers(pairs):
    return [[h.name, h.value] for h in pairs]


def main():
    url = sys.argv[2]
    token = os.environ["SWITCHYARD_ADMIN_TOKEN"]
    admin = AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True)
    anyone = Client(base_url=url, raise_on_unexpected_status=True)

    health = expect(healthz.sync(client=anyone), Status)
    webhooks = expect(list_webhooks.sync(client=admin), PageWebhook)
    deliveries = expect(list_deliveries.sync(client=admin, limit=1), PageDelivery)
    if not deliveries.data:
        sys.exit("call.py: the router has no deliveries to look at")
    delivery = expect(get_delivery.sync(deliveries.data[0].id, client=admin), Delivery)
    log = [] if isinstance(delivery.attempt_log, Unset) else delivery.attempt_log or []

    print(
        json.dumps(
            {
                "health": health.status,
                "webhooks": [w.id for w in webhooks.data],
                "delivery": {
                    "id": delivery.id,
                    "status": delivery.status.value,
                    "attempt_log": [
                        {
                            "number": a.number,
                            "status_code": a.status_code,
                            "request_headers": headers(a.request_headers),
                            "response_headers": headers(a.response_headers),
                        }
                        for a in log
                    ],
                },
            }
        )
    )


main()
