"""Drives Tessera's authorization code flow with Python authlib (S256 PKCE), then refresh.

usage: authlib_client.py ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
Prints one JSON object with what the test asserts.
"""
import html
import json
import re
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

issuer, client_id, client_secret, redirect_uri, username, password = sys.argv[1:7]
metadata = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()

client = OAuth2Session(
    client_id,
    client_secret,
    scope="read write",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = generate_token(48)
url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)

# The user's browser: the login page, then the form posted back with its CSRF cookie.
browser = requests.Session()
page = browser.get(url, timeout=10)
hidden = {
    html.unescape(name): html.unescape(value)
    for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text)
}
answer = browser.post(
    metadata["authorization_endpoint"],
    data={**hidden, "username": username, "password": password},
    allow_redirects=False,
    timeout=10,
)
location = answer.headers["Location"]

token = client.fetch_token(
    metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
)
me = requests.get(f"{issuer}/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
refreshed = client.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])

print(json.dumps({
    "methods": metadata["code_challenge_methods_supported"],
    "login_page": page.status_code,
    "redirect_status": answer.status_code,
    "iss_in_redirect": f"iss={requests.utils.quote(issuer, safe='')}" in location,
    "scope": token["scope"],
    "me_username": me.json().get("username"),
    "rotated": refreshed["refresh_token"] != token["refresh_token"],
}))
