"""Security headers on every response: CSP without inline script, nosniff, no framing, no powerful
browser features; HSTS in production."""
from __future__ import annotations

from flask import Flask, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# Studio uses none of these features; a page (or injected content) cannot ask for them.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "camera", "microphone", "geolocation", "payment", "usb", "serial", "bluetooth", "hid", "midi",
    "accelerometer", "gyroscope", "magnetometer", "display-capture", "interest-cohort", "browsing-topics"))
# Two years: browsers remember to use HTTPS only. Only in production, where TLS is guaranteed:
# a development server on plain HTTP would otherwise lock the browser out of localhost.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def install_security_headers(app: Flask) -> None:
    """Register the after-request hook that sets the headers."""
    is_production = app.config.get("STUDIO_ENV") == "production"

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if is_production:
            headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        if not request.path.startswith("/static/"):
            # Private pages must not be kept by the browser or a shared proxy.
            headers.setdefault("Cache-Control", "no-store")
            headers.add("Vary", "HX-Request")
        return response
