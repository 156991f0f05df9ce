"""Upload benchmark: one large chat upload through a real Parley on loopback (not a test).

Measures throughput and the growth of the process's peak RSS while the file is received. Client
and server share the process; the client streams its body from a generator (64 KiB chunks), so
the RSS growth is what the server holds. Usage: .venv/bin/python bench/upload_stream.py [MiB]
"""
from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.domain import accounts  # noqa: E402
from tests.support import API, serving, test_config  # noqa: E402

CHUNK = 64 * 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(mib: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        async with serving(test_config(data_dir, max_upload_bytes=(mib + 1) << 20)) as server:
            await accounts.add_user(server.ctx, "bench", "123456", "Bench")
            headers = {"OCS-APIRequest": "true", "Accept": "application/json"}
            async with httpx.AsyncClient(base_url=server.url, auth=("bench", "123456"), headers=headers,
                                         timeout=600) as client:
                r = await client.post(f"/ocs/v2.php{API}/room", data={"roomType": 2, "roomName": "bench"})
                token = r.json()["ocs"]["data"]["token"]
                block = bytes(range(256)) * (CHUNK // 256)

                async def body():
                    yield (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
                           b"Content-Type: application/octet-stream\r\n\r\n")
                    for _ in range((mib << 20) // CHUNK):
                        yield block
                    yield b"\r\n--b--\r\n"
                before = peak_rss_mib()
                started = time.perf_counter()
                r = await client.post(f"/ocs/v2.php{API}/chat/{token}/attachment", content=body(),
                                      headers={"Content-Type": "multipart/form-data; boundary=b"})
                elapsed = time.perf_counter() - started
                assert r.status_code == 201, r.text
                size = int(r.json()["ocs"]["data"]["messageParameters"]["file"]["size"])
                print(f"uploaded {size / (1 << 20):.0f} MiB in {elapsed:.2f} s "
                      f"({size / (1 << 20) / elapsed:.0f} MiB/s); peak RSS {before:.0f} → {peak_rss_mib():.0f} MiB "
                      f"(+{peak_rss_mib() - before:.0f} MiB)")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100)
