"""Drives Tessera with Python's oauthlib (+ requests), as a Python OAuth client would.

Usage: oauthlib_client.py BASE_URL CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
Prints one JSON object with what it observed; exits non-zero if oauthlib rejects a response.
"""
import json
import sys

import requests
from oauthlib.oauth2 import BackendApplicationClient, InvalidGrantError, LegacyApplicationClient

base, client_id, secret, username, password = sys.argv[1:6]
form = {"Content-Type": "application/x-www-form-urlencoded"}
auth = (client_id, secret)
seen = {}

# Password grant (RFC 6749 §4.3); oauthlib validates token_type, expires_in and the scope.
client = LegacyApplicationClient(client_id)
body = client.prepare_request_body(username=username, password=password, scope=["read"])
res = requests.post(base + "/token", data=body, headers=form, auth=auth, timeout=10)
token = client.parse_request_body_response(res.text, scope=["read"])
seen["password_scope"] = token["scope"]
seen["has_refresh"] = "refresh_token" in token

# The bearer token on a protected resource (RFC 6750 §2.1 header).
uri, headers, _ = client.add_token(base + "/me")
seen["me_status"] = requests.get(uri, headers=headers, timeout=10).status_code

# Refresh (RFC 6749 §6): a rotated refresh token.
url, headers, body = client.prepare_refresh_token_request(base + "/token", refresh_token=token["refresh_token"])
res = requests.post(url, data=body, headers=headers, auth=auth, timeout=10)
refreshed = client.parse_request_body_response(res.text)
seen["rotated"] = refreshed["refresh_token"] != token["refresh_token"]

# A wrong password surfaces as oauthlib's InvalidGrantError.
body = LegacyApplicationClient(client_id).prepare_request_body(username=username, password="wrong-password")
res = requests.post(base + "/token", data=body, headers=form, auth=auth, timeout=10)
try:
    LegacyApplicationClient(client_id).parse_request_body_response(res.text)
    seen["wrong_password"] = "accepted"
except InvalidGrantError:
    seen["wrong_password"] = "invalid_grant"

# Client credentials (RFC 6749 §4.4).
backend = BackendApplicationClient(client_id)
res = requests.post(base + "/token", data=backend.prepare_request_body(scope=["write"]), headers=form, auth=auth, timeout=10)
cc = backend.parse_request_body_response(res.text, scope=["write"])
seen["cc_scope"] = cc["scope"]
seen["cc_refresh"] = "refresh_token" in cc

print(json.dumps(seen))
