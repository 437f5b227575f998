"""TLS client settings shared by MQTT and emoncms: a CA certificate from config.

pem_to_der() and check_pem() are pure (config validation uses them); context()
imports ssl only when TLS is actually used. MicroPython's SSLContext takes the
CA as DER bytes (cadata=); a PEM text is converted here.
"""
import binascii

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"


class TlsError(ValueError):
    pass


def pem_to_der(text):
    """DER bytes of the first certificate in a PEM text; TlsError if it is not one."""
    if not isinstance(text, str):
        raise TlsError("not text")
    start = text.find(_BEGIN)
    end = text.find(_END)
    if start < 0 or end < start:
        raise TlsError("no BEGIN/END CERTIFICATE block")
    body = "".join(text[start + len(_BEGIN):end].split())
    if not body or len(body) % 4:
        raise TlsError("certificate body is not base64")
    try:
        der = binascii.a2b_base64(body)
    except ValueError:
        raise TlsError("certificate body is not base64") from None
    # X.509 is a DER SEQUENCE (0x30) with a long-form length (RFC 5280 §4.1)
    if len(der) < 64 or der[0] != 0x30:
        raise TlsError("not an X.509 certificate")
    return der


def check_pem(text):
    """'' when text is a usable CA certificate, else the reason."""
    try:
        pem_to_der(text)
    except TlsError as exc:
        return str(exc)
    return ""


def context(ca_cert=""):
    """An SSLContext for a client: verifies the server against ca_cert (PEM) when
    given; without one the link is encrypted but the server is not authenticated."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_cert:
        ctx.load_verify_locations(cadata=pem_to_der(ca_cert))
        ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]  # ESP32's ssl.py has it
    else:
        if hasattr(ctx, "check_hostname"):  # CPython refuses CERT_NONE while it is set
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # type: ignore[attr-defined]
    return ctx
