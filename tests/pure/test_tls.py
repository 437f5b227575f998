from firmware import tls

PEM = """-----BEGIN CERTIFICATE-----
MIIBizCCATGgAwIBAgIUAMNZYlUUUh9JbFVc2uZyVyp7uY0wCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPaHBtb24gdW5pdCB0ZXN0MCAXDTI2MTEyNjA0MDUwNFoYDzIx
MjYxMTAyMDQwNTA0WjAaMRgwFgYDVQQDDA9ocG1vbiB1bml0IHRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQkHDzcPA3Iv6mzXu0AWYkmag7XxEkI8N/GOdno
i8RZzXm/p360sN37ee8PrLEEcB7fvcsNgWln/L7t8ISaNWPyo1MwUTAdBgNVHQ4E
FgQUSBcvUFIxQaO0/unQLuPyoVJECHQwHwYDVR0jBBgwFoAUSBcvUFIxQaO0/unQ
LuPyoVJECHQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA32fA
RSKQU3ozz2poZTPsyGupba7CAQjJosoTWpH5EkwCIFr0yy4AiiLnfuCmzKSzem8y
pbXeE67SAV7U5LIAx4TK
-----END CERTIFICATE-----
"""


def test_pem_to_der():
    der = tls.pem_to_der(PEM)
    assert len(der) == 399  # openssl x509 -outform der | wc -c
    assert der[0] == 0x30 and der[1] == 0x82 and (der[2] << 8 | der[3]) == 399 - 4
    assert tls.pem_to_der("junk before\r\n" + PEM.replace("\n", "\r\n")) == der
    assert tls.check_pem(PEM) == ""


def test_bad_certificates_are_explained():
    assert "BEGIN" in tls.check_pem("")
    assert "BEGIN" in tls.check_pem("MIIB...")
    assert "base64" in tls.check_pem("-----BEGIN CERTIFICATE-----\nab!c\n-----END CERTIFICATE-----")
    assert "X.509" in tls.check_pem("-----BEGIN CERTIFICATE-----\nQUJDRA==\n-----END CERTIFICATE-----")
    assert tls.check_pem(None) != ""
