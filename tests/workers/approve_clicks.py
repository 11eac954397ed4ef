"""A separate bot process for the multi-process tests: its own Bolt app, Ona client and SQLite
connections on the shared database file; it fires signed Approve clicks through `App.dispatch`.

    python -m tests.workers.approve_clicks '<json config>'
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from slack_bolt.request import BoltRequest

from bot.app import build_app
from bot.approvals.policy import parse_policy
from bot.bootstrap import build_services, slack_client
from bot.localslack import SlackPayloads
from bot.ona.client import OnaClient
from bot.settings import Settings


def main(config: dict) -> int:
    settings = Settings(_env_file=None, **config["env"])  # type: ignore[call-arg]
    ona = OnaClient(settings.ona_api_key.get_secret_value(), base_url=settings.ona_base_url,
                    organization_id=settings.ona_organization_id)
    services = build_services(settings, ona=ona, slack=slack_client("xoxb-test", config["slack_api"]),
                              policy=parse_policy(config["policy"], "test policy", None))
    # process_before_response: dispatch returns only when the listener is done, so the process
    # does not exit with work in flight.
    app = build_app(services, signing_secret=config["secret"], process_before_response=True)
    payloads = SlackPayloads(config["secret"])
    go = Path(config["go_file"])
    deadline = time.monotonic() + 30
    while not go.exists():  # start together with the other processes
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.005)

    def click(i: int) -> int:
        user = config["users"][i % len(config["users"])]
        body, headers = payloads.block_action(user_id=user, action_id="approval:approve", value=config["value"],
                                              response_url=f"{config['slack_url']}/response/p{i}")
        response = app.dispatch(BoltRequest(body=body, headers={k.lower(): [v] for k, v in headers.items()}))
        return response.status

    with ThreadPoolExecutor(max_workers=config["clicks"]) as pool:
        statuses = list(pool.map(click, range(config["clicks"])))
    print(json.dumps({"statuses": statuses}))
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
