"""The test suite's Web Push fake as its own process, for benchmarks: ``python -m benchmarks.push_service N``.

It creates N browser-like subscriptions, prints them as one JSON line, then answers commands on
stdin, one per line: ``stats`` prints {"messages", "attempts", "first", "last"} (monotonic clock,
system-wide on Linux) and ``quit`` stops. Every message is verified (VAPID) and decrypted, as in tests.
"""

from __future__ import annotations

import json
import sys

from tests.fakes import FakePushService


def main() -> None:
    count = int(sys.argv[1])
    with FakePushService() as service:
        infos = [service.subscription(f"b{index}").info for index in range(count)]
        print(json.dumps(infos), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                messages = service.messages()
                stamps = [m.monotonic for m in messages]
                print(
                    json.dumps(
                        {
                            "messages": len(messages),
                            "attempts": len(service.attempts()),
                            "endpoints": len({m.endpoint_id for m in messages}),
                            "first": min(stamps, default=None),
                            "last": max(stamps, default=None),
                            "tags": [
                                m.payload.get("tag") if isinstance(m.payload, dict) else None for m in messages[-1:]
                            ],
                        }
                    ),
                    flush=True,
                )
            elif command == "quit":
                break


if __name__ == "__main__":
    main()
