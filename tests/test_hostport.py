"""One ADDR:PORT parser for every server option: empty host is loopback, never all interfaces."""

import pytest

from cdn.addressing import parse_hostport
from cdn.errors import UserError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        (":8080", ("127.0.0.1", 8080)),
        ("[::1]:5353", ("::1", 5353)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_parses(text, expected):
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("bad", ["localhost", "127.0.0.1:0", "127.0.0.1:65536", "1.2.3.4:http", ""])
def test_rejects_with_what_is_allowed(bad):
    with pytest.raises(UserError) as err:
        parse_hostport(bad, "--dns")
    assert "--dns" in str(err.value) and "1-65535" in str(err.value)
