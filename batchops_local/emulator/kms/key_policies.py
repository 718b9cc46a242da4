"""Another account's KMS key, used as AWS allows it.

A principal may use a key of another account only when the key policy allows it and the principal's own
identity policies do too (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html).
The other account's key is named by its key or alias ARN (a bare key id or alias name always means the caller's
own account), or, for Decrypt, by the ciphertext, which records its key. moto looks keys up in the caller's own
account only, so such requests failed with NotFoundException; here they are evaluated
(`policies.cross_account_denial`: `AccessDeniedException` as KMS answers it) and, when allowed, answered by the
owner account's KMS. S3 asks `decrypt_denial` before it serves an object encrypted with another account's key.
"""

from __future__ import annotations

import re
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms.models import kms_backends
from moto.kms.responses import KmsResponse
from moto.kms.utils import _deserialize_ciphertext_blob

from .. import accounts
from ..patching import Patcher
from ..policies import cross_account_denial

KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<kind>key|alias)/(?P<id>.+)$")

_originals: dict[str, Any] = {}


def install(patcher: Patcher) -> None:
    for name, action in (("decrypt", "kms:Decrypt"), ("encrypt", "kms:Encrypt"),
                         ("generate_data_key", "kms:GenerateDataKey"), ("describe_key", "kms:DescribeKey")):
        _originals[name] = patcher.replace(KmsResponse, name, _in_owner_account(name, action))


def find_key(key_id: str | None, region: str, ciphertext: bytes | None = None) -> Any | None:
    """The key a request names by key/alias ARN, or (for Decrypt without KeyId) the one its ciphertext records,
    in whichever account holds it; None for a bare id or alias name (the caller's own account) or no such key."""
    match = KMS_ARN.match(key_id or "")
    if match is not None:
        if match["account"] not in kms_backends:
            return None
        backend = kms_backends[match["account"]][match["region"]]
        raw_id = match["id"] if match["kind"] == "key" else backend.get_key_id_from_alias(f"alias/{match['id']}")
        return backend.keys.get(raw_id) if raw_id else None
    if key_id or not ciphertext:
        return None
    try:
        raw_id = _deserialize_ciphertext_blob(ciphertext).key_id
    except Exception:  # not a ciphertext of this KMS: moto answers InvalidCiphertextException itself
        return None
    for account in list(kms_backends):
        backend = kms_backends[account].get(region)
        if backend is not None and raw_id in backend.keys:
            return backend.keys[raw_id]
    return None


def decrypt_denial(caller: accounts.Caller, key: Any) -> str | None:
    """None when `caller` may decrypt with `key` (same account, or granted by the key and identity policies)."""
    return cross_account_denial(caller, key.account_id, "kms:Decrypt", key.arn, key.policy)


def _in_owner_account(name: str, action: str) -> Any:
    def handler(self: KmsResponse) -> Any:
        ciphertext = self._get_param("CiphertextBlob") if name == "decrypt" else None
        key = find_key(self._get_param("KeyId"), self.region, ciphertext)
        if key is None or key.account_id == self.current_account:
            return _originals[name](self)
        caller = accounts.caller_of(self)
        denial = cross_account_denial(caller, key.account_id, action, key.arn, key.policy)
        if denial is not None:
            raise JsonRESTError("AccessDeniedException", denial)  # HTTP 400, as KMS answers it
        with accounts.answered_by(self, key.account_id):  # the owner's KMS answers
            return _originals[name](self)

    handler.__name__ = name
    return handler
