#!/usr/bin/env python3
"""A Docker registry token server for the tests (the Distribution token
protocol: GET REALM?service=S&scope=repository:NAME:ACTIONS), so that a
real docker-registry in token mode judges hearth's Bearer login. Tokens
are JWTs signed RS256 with the openssl CLI, the certificate in the x5c
header (the registry trusts it through its rootcertbundle).

Basic credentials USER:PASS get every action asked for; anonymous
callers get pull on repositories under public/ only; wrong credentials
get 401. Each request is appended to LOG as one JSON line (the
Authorization header reduced to its scheme).

usage: token-server.py PORT KEY CERT SERVICE ISSUER USER:PASS LOG
"""
import base64, http.server, json, subprocess, sys, time, urllib.parse

port, key, cert, service, issuer, creds, log = sys.argv[1:8]
with open(cert) as f:
    der_b64 = "".join(l for l in f.read().splitlines() if "CERTIFICATE" not in l)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [der_b64]}
    body = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=body.encode(),
                         capture_output=True, check=True).stdout
    return body + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        with open(log, "a") as f:
            f.write(json.dumps({"path": url.path, "query": q, "auth": auth.split(" ")[0]}) + "\n")
        user = None
        if auth.startswith("Basic "):
            if base64.b64decode(auth[6:]).decode() != creds:
                self.send_response(401)
                self.end_headers()
                return
            user = creds.split(":")[0]
        access = []
        for scope in q.get("scope", []):
            kind, name, actions = scope.split(":")
            if user or name.startswith("public/"):
                access.append({"type": kind, "name": name,
                               "actions": actions.split(",") if user else ["pull"]})
        now = int(time.time())
        token = sign({"iss": issuer, "sub": user or "", "aud": q.get("service", [service])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now, "jti": str(now), "access": access})
        out = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


http.server.HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
