"""A consumer process for the crash test: poll a batch, store it (append the keys to a file,
fsync), then commit; forever, until killed. Prints one line per stored batch.

    python kafka_consumer_proc.py SOURCE_URL STORE_FILE
"""

from __future__ import annotations

import os
import sys
import time

from e200.bus import open_source


def main() -> None:
    url, store_path = sys.argv[1], sys.argv[2]
    source = open_source(url, client_id="crash-test")
    with open(store_path, "ab") as store:
        while True:
            batch = source.poll(50, 0.5)
            if not batch:
                continue
            store.write(b"".join((d.key or b"?") + b"\n" for d in batch))
            store.flush()
            os.fsync(store.fileno())
            print(f"stored {len(batch)}", flush=True)
            time.sleep(0.02)  # a window between storing and committing
            source.commit()


if __name__ == "__main__":
    main()
