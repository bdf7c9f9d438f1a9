"""Version files in Parquet modular encryption: Arrow's C++ reader decrypts only the column chunks a query reads.

A version file is a Parquet file whose every module (footer, page headers, pages, dictionaries) Arrow seals with
AES-256-GCM (``AES_GCM_V1``, encrypted footer: the file starts and ends with ``PARE``), under a fresh data key
per file that Arrow draws. The data key is kept in the file's footer metadata only wrapped, by :class:`_MasterKms`:
AES-256-GCM under the server's master key with the dataset and version as associated data, so a file read as
another dataset or version fails to unwrap. Each module's associated data binds it to its file, row group,
column and page, so a flipped, moved, truncated or swapped byte fails authentication when that module is read
(the footer when the file is opened). Nothing is decrypted to disk: Arrow decrypts into memory as it decodes.

Versions stored before this format (:mod:`mock_server.datasets.crypto`'s segment files, magic ``E6DS``) stay
readable: :func:`is_modular` tells the two apart.
"""
from __future__ import annotations

import base64
import hashlib
import os
import pyarrow.dataset as ds
import pyarrow.parquet.encryption as pe
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mock_server.datasets.crypto import DecryptionError

MAGIC = b"PARE"  # a Parquet file with an encrypted footer
_MASTER_KEY_ID = "e6-master"  # names the server's master key in a file's key metadata (the key is never there)
_CONTEXT = "e6-context"  # custom KMS setting: the dataset and version a reader or writer works on


def is_modular(head: bytes) -> bool:
    """Whether a file starting with ``head`` (4 bytes or more) is in this format."""
    return head[:4] == MAGIC


class _MasterKms(pe.KmsClient):
    """Wraps and unwraps a file's data key with the server's master key, in process; bound to one dataset
    version (the associated data), so a key wrapped for one version opens no other."""

    def __init__(self, master: bytes, context: bytes) -> None:
        super().__init__()
        self._cipher = AESGCM(master)
        self._context = context

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        nonce = os.urandom(12)
        sealed = self._cipher.encrypt(nonce, key_bytes, self._aad(master_key_identifier))
        return base64.b64encode(nonce + sealed).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        try:
            raw = base64.b64decode(wrapped_key)
            return self._cipher.decrypt(raw[:12], raw[12:], self._aad(master_key_identifier))
        except Exception:
            # Arrow reports it as an OSError carrying this message
            raise DecryptionError("cannot unwrap the data key (wrong master key, or a file of another "
                                  "dataset or version)") from None

    def _aad(self, master_key_identifier: str) -> bytes:
        if master_key_identifier != _MASTER_KEY_ID:
            raise DecryptionError(f"unknown master key {master_key_identifier!r}")
        return self._context


class VersionCrypto:
    """Encryption and decryption settings for the version files of one store (one master key)."""

    def __init__(self, master: bytes) -> None:
        self._factory = pe.CryptoFactory(
            lambda config: _MasterKms(master, config.custom_kms_conf[_CONTEXT].encode()))

    @staticmethod
    def _connection(dataset: str, version: int) -> pe.KmsConnectionConfig:
        context = f"{dataset}\x00{version}"
        # Arrow caches KMS clients (and the keys they unwrapped) by access token: one token per version keeps a
        # client bound to one version from serving another.
        token = hashlib.sha256(context.encode()).hexdigest()
        return pe.KmsConnectionConfig(key_access_token=token, custom_kms_conf={_CONTEXT: context})

    def encryption(self, dataset: str, version: int) -> "pe.FileEncryptionProperties":
        """Properties for writing one version file (a fresh data key at every call)."""
        config = pe.EncryptionConfiguration(footer_key=_MASTER_KEY_ID, uniform_encryption=True,
                                            encryption_algorithm="AES_GCM_V1", double_wrapping=False,
                                            data_key_length_bits=256)
        return self._factory.file_encryption_properties(self._connection(dataset, version), config)

    def decryption(self, dataset: str, version: int) -> "pe.FileDecryptionProperties":
        """Properties for reading one version file (``pq.ParquetFile``, ``pq.read_table``)."""
        return self._factory.file_decryption_properties(self._connection(dataset, version),
                                                        pe.DecryptionConfiguration())

    def file_format(self, dataset: str, version: int) -> ds.ParquetFileFormat:
        """A Parquet format for Arrow datasets over one version file."""
        # pre_buffer off: reading each column chunk as it is decoded took less CPU than coalesced reads ahead
        options = ds.ParquetFragmentScanOptions(pre_buffer=False, decryption_config=ds.ParquetDecryptionConfig(
            self._factory, self._connection(dataset, version), pe.DecryptionConfiguration()))
        return ds.ParquetFileFormat(default_fragment_scan_options=options)
