"""Closing connections whose request headers never arrive (slowloris), for uvicorn's h11 server.

uvicorn closes an idle connection only after a response (timeout_keep_alive); a client that connects
and sends nothing, or part of a request line, is kept for ever: 400 such connections stayed open in
the red team's test (tests/security/test_slow_clients.py). This protocol gives each request's headers
`timeout_s` from the first byte (or from connecting) to arrive, then closes the connection. Requests
being answered (Gradio's event streams included) and upgraded websockets are not affected.

Hand-written because uvicorn has no such setting (its h11 limits cap header size, not time) and no
maintained server library fits in front of Gradio without a second process.
"""
from __future__ import annotations

DEFAULT_HEADER_TIMEOUT_S = 10.0


def header_timeout_protocol(timeout_s: float = DEFAULT_HEADER_TIMEOUT_S):
    """A uvicorn `http=` protocol class: H11Protocol with a header timeout of `timeout_s` seconds."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._waiting_for_headers():
                self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _waiting_for_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(timeout_s, self._timed_out)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _timed_out(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # closed, or upgraded to a websocket
            if self._waiting_for_headers():
                self.transport.close()

    return HeaderTimeoutProtocol
