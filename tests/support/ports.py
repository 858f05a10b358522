import socket


def free_port() -> int:
    """A port nothing listens on now (tests never use the fixed ports `make up` may hold)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
