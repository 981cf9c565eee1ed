"""Test helper: record (and refuse) every network destination that is not this machine.

Put this folder first on PYTHONPATH and set NETGUARD_LOG to a file; Python imports
sitecustomize at start-up, before the program's own code. Each attempt to resolve or reach a
non-loopback host appends one line "<call> <destination>" to the file and raises OSError.
"""
import ipaddress
import os
import socket

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _record(call: str, destination) -> None:
    with open(_LOG, "a") as fh:
        fh.write(f"{call} {destination!r}\n")
    raise OSError(f"netguard: outbound {call} to {destination!r} refused")


def _host_of(address):
    return address[0] if isinstance(address, tuple) and address else None


if _LOG:
    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo, _create_connection = socket.getaddrinfo, socket.create_connection

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_host_of(address)):
            _record("connect", address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_host_of(address)):
            _record("connect_ex", address)
        return _connect_ex(self, address)

    def sendto(self, data, *args):
        address = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_host_of(address)):
            _record("sendto", address)
        return _sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            _record("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        if not _is_local(_host_of(address)):
            _record("create_connection", address)
        return _create_connection(address, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo, socket.create_connection = getaddrinfo, create_connection
