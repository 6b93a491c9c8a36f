"""A pool closed while a client is in use closes that client once it is returned (an embedded
engine is let go only when every client of it is closed)."""

from __future__ import annotations

import threading

from actionlog.store.pool import StorePool


class Client:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_client_in_use_is_closed_when_returned_after_close() -> None:
    made: list[Client] = []
    pool = StorePool(lambda: made.append(Client()) or made[-1], 2)  # type: ignore[arg-type, return-value, func-returns-value]
    with pool.client():
        pass  # one free client
    in_use = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with pool.client():
            in_use.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert in_use.wait(10)
    pool.close(wait=0)  # does not wait for the client in use
    assert made and not made[0].closed
    release.set()
    holder.join(10)
    assert all(c.closed for c in made)
