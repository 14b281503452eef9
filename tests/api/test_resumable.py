"""Resumable uploads: chunks at offsets, a wrong offset refused, resume after a break."""

from __future__ import annotations

import time

from tests.helpers.api import Station


def test_chunked_upload_resumes_and_becomes_a_batch(station: Station) -> None:
    station.load_register()
    data = (
        "identifier\n" + "".join(f"NOPE{i:06d}\n" for i in range(2000)) + "C02XK1ABJGH5\n"
    ).encode()
    r = station.call("store", "POST", f"/api/uploads?filename=big.csv&size={len(data)}")
    assert r.status_code == 201
    up = r.json()
    assert (up["received"], up["complete"]) == (0, False)
    first = station.call("store", "PUT", f"{up['href']}?offset=0", content=data[:10_000]).json()
    assert first["received"] == 10_000
    # a client that lost the answer re-sends the same chunk: refused, nothing appended twice
    again = station.call("store", "PUT", f"{up['href']}?offset=0", content=data[:10_000])
    assert again.status_code == 409 and "10000 bytes received" in again.json()["detail"]
    # too early to start the batch
    early = station.call("store", "POST", f"{up['href']}/batch")
    assert early.status_code == 422 and "send the rest" in early.json()["detail"]
    # after "reconnecting", ask where to resume
    status = station.call("store", "GET", up["href"]).json()
    rest = station.call(
        "store",
        "PUT",
        f"{up['href']}?offset={status['received']}",
        content=data[status["received"] :],
    ).json()
    assert rest["complete"] is True
    # a chunk past the announced size is refused and leaves the upload as it was
    over = station.call("store", "PUT", f"{up['href']}?offset={len(data)}", content=b"x")
    assert over.status_code == 422
    assert station.call("store", "GET", up["href"]).json()["received"] == len(data)
    batch = station.call("store", "POST", f"{up['href']}/batch")
    assert batch.status_code == 202, batch.text
    for _ in range(200):
        doc = station.call("store", "GET", batch.json()["href"]).json()
        if doc["state"] == "complete":
            break
        time.sleep(0.05)
    assert (doc["state"], doc["total"], doc["hits"]) == ("complete", 2001, 1)
    assert station.call("store", "GET", up["href"]).status_code == 404  # consumed


def test_uploads_are_private_and_bounded(sqlite_station: Station) -> None:
    st = sqlite_station
    up = st.call("store", "POST", "/api/uploads?filename=a.csv&size=10").json()
    assert st.call("admin", "GET", up["href"]).status_code == 404  # another user's upload
    assert st.call("custody", "GET", up["href"]).status_code == 403
    huge = 10 * 1024**4
    assert st.call("store", "POST", f"/api/uploads?filename=a.csv&size={huge}").status_code == 413
    assert st.call("store", "GET", "/api/uploads/..%2F..%2Fetc").status_code == 404
