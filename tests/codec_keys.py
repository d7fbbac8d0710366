"""Fixed payload keys for the tests and the encrypted recorded histories: test-only, never used elsewhere.

``tests/histories/encrypted/`` was recorded with ``KEY_A``; the replay gate reads it with these keys.
"""

from __future__ import annotations

from temporalio.converter import DataConverter

from worker.runtime.codec import KeyRing, converter_for, parse_keys

KEY_A = "test-a:D2XAs5Fz6sDMcb+L+TqdUKBSNaJNxwi0TCW+J9EnqYo="
KEY_B = "test-b:TWBvvREbnosH5qzlYWVYfAtSrK05GL+aQQIOT7tEZts="
TEST_KEYS = KEY_A
"""What ``SAVES_ENCRYPTION_KEYS`` holds in the tests."""


def ring(keys: str = TEST_KEYS) -> KeyRing:
    return parse_keys(keys, "SAVES_ENCRYPTION_KEYS")


def converter(keys: str = TEST_KEYS) -> DataConverter:
    """The project's data converter with the test keys (what ``data_converter(settings)`` builds)."""
    return converter_for(ring(keys))
