"""Child process for the official ``vi`` client: ``python -m benchmarks._official``.

Runs in its own process so that ``vi``'s import, its HOME-based log file and its
httpx pool never touch the measuring process. Credentials come from the
``DATATURE_VI_*`` environment variables, the work from a JSON file; prints one
JSON line with the elapsed time of the measured loop only.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def delete_one_by_one(ids_file: str) -> dict[str, float | int]:
    """Delete the flows listed in ``ids_file`` one by one, as the official client does."""
    import vi

    with open(ids_file, encoding="utf-8") as fh:
        ids: list[str] = json.load(fh)
    client = vi.Client(
        secret_key=os.environ["DATATURE_VI_SECRET_KEY"],
        organization_id=os.environ["DATATURE_VI_ORGANIZATION_ID"],
        endpoint=os.environ["DATATURE_VI_API_ENDPOINT"],
    )
    failed = 0
    try:
        started = time.perf_counter()
        for flow_id in ids:
            try:
                client.flows.delete(flow_id)
            except Exception:  # e.g. a 429 after its retries: counted, the loop goes on
                failed += 1
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    return {"elapsed": elapsed, "deleted": len(ids) - failed, "failed": failed}


def main() -> None:
    """Parse the command line and print the JSON result."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._official")
    parser.add_argument("command", choices=["delete"])
    parser.add_argument("ids_file")
    args = parser.parse_args()
    print(json.dumps(delete_one_by_one(args.ids_file)), flush=True)


if __name__ == "__main__":
    main()
