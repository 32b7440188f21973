"""No problem repeats a secret: not in its message, hint, path or the JSON report.

Each test writes a plausible mistake that puts a credential where a
message might echo it, and asserts that the credential is nowhere in what
`exchange validate` prints, in either of its formats.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.config import Validation
from exchange.config.problems import render_path
from exchange.config.report import Run, render_json, render_text

from .samples import TUNNEL_KEYS, VALID, changed, line_of, validate_text

PSK_REF = "preSharedKey: { env: NORDWIND_TUNNEL1_PSK }"
# The sample's keys, with a web service appended to its exchanges.
WEB_SERVICE = """\
  - option: web-service
    name: shipments
    url: https://api.nordwind.example/v1/shipments
    auth:
      type: oauth2-client-credentials
      tokenUrl: https://login.nordwind.example/oauth2/token
      clientId: platform-shipments
      clientSecret: { env: NORDWIND_CLIENT_SECRET }
    responseSchema: { type: array }
    schedule: { everyMinutes: 5 }
"""
WITH_SERVICE = VALID + WEB_SERVICE
ENVIRON = {**TUNNEL_KEYS, "NORDWIND_CLIENT_SECRET": "x", "NORDWIND_PASSWORD": "x"}
BASIC_AUTH = """\
    auth:
      type: basic
      username: platform
      password: { env: NORDWIND_PASSWORD }
"""


def with_auth(auth: str) -> str:
    """The sample with a web service that authenticates as `auth` says."""
    start = WITH_SERVICE.index("    auth:\n")
    end = WITH_SERVICE.index("    responseSchema:")
    return WITH_SERVICE[:start] + auth + WITH_SERVICE[end:]


def assert_never_shown(validation: Validation, secret: str) -> None:
    """`secret` is in no problem's text, rendered path, or either report."""
    assert validation.problems, "the mistake went unnoticed"
    for problem in validation.problems:
        for text in (problem.message, problem.hint, render_path(problem.path)):
            assert secret not in text, problem
        assert secret not in problem.format(validation.path)
    run = Run(validations=[validation])
    assert secret not in render_json(run)
    assert secret not in render_text(run)


def rules_of(validation: Validation) -> list[str]:
    return [p.rule for p in validation.problems]


class TestKeysBelowASecret:
    @pytest.mark.parametrize(
        ("old", "new", "secret"),
        [
            (PSK_REF, "preSharedKey: {Kq7vTunnelOneKey_4711}", "Kq7vTunnelOneKey_4711"),
            (
                "clientSecret: { env: NORDWIND_CLIENT_SECRET }",
                "clientSecret: {Xs9ClientSecretValue}",
                "Xs9ClientSecretValue",
            ),
            (
                PSK_REF,
                "preSharedKey: { env: { Kq7vTunnelOneKey_4711: 1 } }",
                "Kq7vTunnelOneKey_4711",
            ),
        ],
        ids=["pre-shared-key", "client-secret", "below-env"],
    )
    def test_secret_written_as_a_key_is_never_named(self, tmp_path, old, new, secret):
        validation = validate_text(tmp_path, changed(old, new, WITH_SERVICE), ENVIRON)
        assert_never_shown(validation, secret)
        assert not validation.ok

    def test_unknown_key_below_a_secret_says_how_to_write_it(self, tmp_path):
        text = changed(PSK_REF, "preSharedKey: {Kq7vTunnelOneKey_4711}")
        validation = validate_text(tmp_path, text)
        [problem] = validation.errors
        assert problem.message == "preSharedKey has an unknown key"
        assert "{ env: NAME }" in problem.hint
        assert problem.line == line_of(text, "Kq7vTunnelOneKey_4711")

    def test_key_written_twice_below_a_secret_is_never_named(self, tmp_path):
        text = changed(PSK_REF, "preSharedKey: { Kq7vKey_4711: 1, Kq7vKey_4711: 2 }")
        validation = validate_text(tmp_path, text)
        assert rules_of(validation) == ["YAML"]
        assert "appears twice" in validation.problems[0].message
        assert_never_shown(validation, "Kq7vKey_4711")

    def test_key_that_is_not_text_below_a_secret_is_never_named(self, tmp_path):
        text = changed(PSK_REF, "preSharedKey: { 73190000555: 1 }")
        validation = validate_text(tmp_path, text)
        assert rules_of(validation) == ["YAML"]
        assert "is not text" in validation.problems[0].message
        assert_never_shown(validation, "73190000555")

    def test_rendered_path_stops_at_the_secret_key(self):
        path = ("vpn", "tunnels", 0, "preSharedKey", "Kq7vTunnelOneKey_4711")
        assert render_path(path) == "vpn.tunnels[0].preSharedKey"

    def test_rendered_path_keeps_the_keys_of_a_reference(self):
        path = ("exchanges", 0, "auth", "clientSecret", "env")
        assert render_path(path) == "exchanges[0].auth.clientSecret.env"
        assert render_path((*path, "Xs9ClientSecretValue")) == (
            "exchanges[0].auth.clientSecret.env"
        )


class TestUrlsThatFailTheSchema:
    @pytest.mark.parametrize(
        ("field", "url", "secret"),
        [
            ("url", "https://alice:hunt er2@api.nordwind.example/x", "hunt er2"),
            ("url", "https://alice:p@ss@api.nordwind.example/x", "p@ss"),
            ("url", "https://api.nordwind.example/x y?token=Tk9secret", "Tk9secret"),
            ("tokenUrl", "https://alice:hunt er2@login.nordwind.example/t", "hunt er2"),
        ],
        ids=["space-in-password", "at-in-password", "query", "token-url"],
    )
    def test_credentials_of_an_invalid_url_are_never_shown(
        self, tmp_path, field, url, secret
    ):
        old = {
            "url": "url: https://api.nordwind.example/v1/shipments",
            "tokenUrl": "tokenUrl: https://login.nordwind.example/oauth2/token",
        }[field]
        text = changed(old, f'{field}: "{url}"', WITH_SERVICE)
        validation = validate_text(tmp_path, text, ENVIRON)
        assert rules_of(validation) == ["SCHEMA"]
        assert_never_shown(validation, secret)
        assert "alice" not in validation.problems[0].message

    def test_too_long_url_is_shown_without_its_query(self, tmp_path):
        url = "https://api.nordwind.example/v1?api_key=Ak9secret&pad=" + "x" * 2048
        text = changed(
            "url: https://api.nordwind.example/v1/shipments",
            f"url: {url}",
            WITH_SERVICE,
        )
        validation = validate_text(tmp_path, text, ENVIRON)
        [problem] = validation.errors
        assert "longer than 2048" in problem.message
        assert "https://api.nordwind.example/v1?..." in problem.message
        assert_never_shown(validation, "Ak9secret")


class TestNamesThatMayHoldASecret:
    def test_user_name_with_a_colon_is_never_shown(self, tmp_path):
        text = with_auth(
            changed("username: platform", 'username: "alice:hunter2"', BASIC_AUTH)
        )
        validation = validate_text(tmp_path, text, ENVIRON)
        assert rules_of(validation) == ["SCHEMA"]
        assert "colon" in validation.problems[0].hint
        assert_never_shown(validation, "hunter2")

    def test_header_with_its_value_is_never_shown(self, tmp_path):
        auth = (
            "    auth:\n"
            "      type: api-key\n"
            '      header: "X-Api-Key: s3cr3tvalue123"\n'
            "      apiKey: { env: NORDWIND_PASSWORD }\n"
        )
        validation = validate_text(tmp_path, with_auth(auth), ENVIRON)
        assert rules_of(validation) == ["SCHEMA"]
        assert_never_shown(validation, "s3cr3tvalue123")


class TestCredentialsInUrls:
    @pytest.mark.parametrize(
        ("url", "secret"),
        [
            ("https://ghp_Tok3nValue99@api.nordwind.example/v1", "ghp_Tok3nValue99"),
            ("https://me:Pw9secret@api.nordwind.example/v1", "Pw9secret"),
            ("https://api.nordwind.example/v1?api_key=Ak9secret", "Ak9secret"),
            ("https://api.nordwind.example/v1?page=2&access_token=At9x", "At9x"),
            ("https://api.nordwind.example/v1?X-Amz-Signature=Sg9abc", "Sg9abc"),
            ("https://api.nordwind.example/v1?sig=Sg9abc&sv=2024", "Sg9abc"),
            ("https://api.nordwind.example/v1?client_secret=Cs9abc", "Cs9abc"),
            ("https://api.nordwind.example/v1?password=Pw9abc", "Pw9abc"),
            ("https://api.nordwind.example/v1?apiKey=Ak9abc", "Ak9abc"),
        ],
    )
    @pytest.mark.parametrize("field", ["url", "tokenUrl"])
    def test_credential_in_a_url_is_an_error_that_never_shows_it(
        self, tmp_path, field, url, secret
    ):
        old = {
            "url": "url: https://api.nordwind.example/v1/shipments",
            "tokenUrl": "tokenUrl: https://login.nordwind.example/oauth2/token",
        }[field]
        text = changed(old, f"{field}: {url}", WITH_SERVICE)
        validation = validate_text(tmp_path, text, ENVIRON)
        sec04 = [p for p in validation.errors if p.rule == "SEC-04"]
        assert sec04, validation.report()
        assert all(p.path[-1] == field for p in sec04)
        assert_never_shown(validation, secret)

    def test_query_parameter_is_named(self, tmp_path):
        text = changed("/v1/shipments", "/v1/shipments?api_key=Ak9secret", WITH_SERVICE)
        validation = validate_text(tmp_path, text, ENVIRON)
        [problem] = validation.errors
        assert '"api_key"' in problem.message

    def test_harmless_query_parameters_pass(self, tmp_path):
        text = changed(
            "/v1/shipments", "/v1/shipments?page=2&monkey=1&keys_only=no", WITH_SERVICE
        )
        validation = validate_text(tmp_path, text, ENVIRON)
        assert "SEC-04" not in rules_of(validation)


class TestUnreadableAddresses:
    @pytest.mark.parametrize(
        ("field", "url"),
        [
            ("url", "https://[api.nordwind.example/v1"),
            ("tokenUrl", "https://login]/x"),
        ],
    )
    def test_unmatched_bracket_is_a_schema_error(self, tmp_path, field, url):
        old = {
            "url": "url: https://api.nordwind.example/v1/shipments",
            "tokenUrl": "tokenUrl: https://login.nordwind.example/oauth2/token",
        }[field]
        text = changed(old, f'{field}: "{url}"', WITH_SERVICE)
        validation = validate_text(tmp_path, text, ENVIRON)
        assert rules_of(validation) == ["SCHEMA"]

    @pytest.mark.parametrize("host", ["[1.2.3.4]", "[::::]"])
    def test_brackets_around_no_ipv6_address_are_an_error_with_a_fix(
        self, tmp_path, host
    ):
        text = changed(
            "tokenUrl: https://login.nordwind.example/oauth2/token",
            f"tokenUrl: https://{host}/oauth2/token",
            WITH_SERVICE,
        )
        validation = validate_text(tmp_path, text, ENVIRON)
        [problem] = validation.errors
        assert problem.rule == "SEC-03"
        assert problem.path[-1] == "tokenUrl"
        assert "IPv6" in problem.hint

    def test_ipv6_address_in_brackets_passes(self, tmp_path):
        text = changed("api.nordwind.example", "[2001:db8::1]:8443", WITH_SERVICE)
        validation = validate_text(tmp_path, text, ENVIRON)
        assert validation.ok, validation.report()


class TestResponseSchemaFile:
    def service_with(self, tmp_path: Path, written: str) -> Validation:
        text = changed(
            "responseSchema: { type: array }",
            f"responseSchema: {written}",
            WITH_SERVICE,
        )
        folder = tmp_path / "customer"
        folder.mkdir(exist_ok=True)
        return validate_text(folder, text, ENVIRON)

    def exc06(self, validation: Validation) -> str:
        [problem] = validation.errors
        assert problem.rule == "EXC-06"
        return problem.message

    def test_absolute_path_is_refused(self, tmp_path):
        outside = tmp_path / "outside.json"
        outside.write_text('{"type": "Ab9secretvalue"}')
        validation = self.service_with(tmp_path, str(outside))
        assert "absolute path" in self.exc06(validation)
        assert_never_shown(validation, "Ab9secretvalue")

    def test_path_out_of_the_folder_is_refused(self, tmp_path):
        (tmp_path / "outside.json").write_text('{"type": "Ab9secretvalue"}')
        validation = self.service_with(tmp_path, "../outside.json")
        assert "outside the folder" in self.exc06(validation)
        assert_never_shown(validation, "Ab9secretvalue")

    def test_symbolic_link_out_of_the_folder_is_refused(self, tmp_path):
        (tmp_path / "outside.json").write_text('{"type": "Ab9secretvalue"}')
        (tmp_path / "customer").mkdir()
        (tmp_path / "customer" / "link.json").symlink_to(tmp_path / "outside.json")
        validation = self.service_with(tmp_path, "link.json")
        assert "outside the folder" in self.exc06(validation)

    def test_file_that_is_not_json_by_name_is_refused(self, tmp_path):
        (tmp_path / "customer").mkdir()
        (tmp_path / "customer" / "schema.yaml").write_text("type: array")
        validation = self.service_with(tmp_path, "schema.yaml")
        assert "does not end in .json" in self.exc06(validation)

    def test_file_larger_than_the_limit_is_refused(self, tmp_path):
        from exchange.config.loader import MAX_FILE_BYTES

        (tmp_path / "customer").mkdir()
        padding = " " * MAX_FILE_BYTES
        (tmp_path / "customer" / "big.json").write_text('{"type": "array"}' + padding)
        validation = self.service_with(tmp_path, "big.json")
        assert "larger than" in self.exc06(validation)

    def test_invalid_schema_names_the_keyword_and_place_not_the_value(self, tmp_path):
        (tmp_path / "customer").mkdir()
        (tmp_path / "customer" / "s.json").write_text(
            '{"items": {"type": "Ab9secretvalue"}}'
        )
        validation = self.service_with(tmp_path, "s.json")
        message = self.exc06(validation)
        assert "at items/type" in message
        assert '"anyOf"' in message
        assert_never_shown(validation, "Ab9secretvalue")

    def test_pattern_that_is_no_regex_is_not_echoed(self, tmp_path):
        (tmp_path / "customer").mkdir()
        (tmp_path / "customer" / "s.json").write_text('{"pattern": "(Ab9secret"}')
        validation = self.service_with(tmp_path, "s.json")
        self.exc06(validation)
        assert_never_shown(validation, "Ab9secret")

    @pytest.mark.parametrize("depth", [3000, 100_000])
    def test_deeply_nested_schema_is_an_error_not_a_crash(self, tmp_path, depth):
        (tmp_path / "customer").mkdir()
        nested = '{"not": ' * depth + "{}" + "}" * depth
        (tmp_path / "customer" / "deep.json").write_text(nested)
        validation = self.service_with(tmp_path, "deep.json")
        assert "nested too deeply" in self.exc06(validation)

    def test_inline_schema_problem_is_located_at_the_offending_key(self, tmp_path):
        text = changed(
            "responseSchema: { type: array }",
            "responseSchema:\n      items:\n        type: Ab9secretvalue",
            WITH_SERVICE,
        )
        validation = validate_text(tmp_path, text, ENVIRON)
        [problem] = validation.errors
        assert problem.rule == "EXC-06"
        assert problem.path[-3:] == ("responseSchema", "items", "type")
        assert problem.line == line_of(text, "type: Ab9secretvalue")
        assert_never_shown(validation, "Ab9secretvalue")


class TestMisspelledSecretKeys:
    @pytest.mark.parametrize(
        ("old", "new", "secret"),
        [
            (PSK_REF, "preSharedKy: 0777", "0777"),
            (
                "username: platform",
                "username: platform\n      passwd: 0123456",
                "0123456",
            ),
            ("username: platform", "username: platform\n      pasword: yes", "yes"),
            (
                "username: platform",
                "username: platform\n      Token: 1:23:45",
                "1:23:45",
            ),
        ],
        ids=["pre-shared-key", "password", "password-boolean", "token"],
    )
    def test_value_of_a_near_miss_is_never_shown(self, tmp_path, old, new, secret):
        text = with_auth(BASIC_AUTH) if "username" in old else VALID
        validation = validate_text(tmp_path, changed(old, new, text), ENVIRON)
        warnings = [p for p in validation.warnings if p.rule == "YAML-1.1"]
        assert len(warnings) == 1, validation.report()
        assert_never_shown(validation, secret)

    def test_unrelated_key_still_shows_its_value(self, tmp_path):
        text = changed("name: Nordwind Logistik GmbH", "name: 0777")
        validation = validate_text(tmp_path, text)
        [warning] = [p for p in validation.warnings if p.rule == "YAML-1.1"]
        assert "0777" in warning.hint


class TestVariableNamesThatLookLikeSecrets:
    @pytest.mark.parametrize(
        "name",
        ["KQ7VTUNNELONEKEY4711", "K7Q2X9M4_TUNNEL", "NORDWIND_KQ7VTUNNELONEKEY47"],
    )
    def test_unset_pre_shared_key_variable_is_not_named(self, tmp_path, name):
        text = changed(PSK_REF, f"preSharedKey: {{ env: {name} }}")
        validation = validate_text(tmp_path, text)
        [problem] = [p for p in validation.problems if p.rule == "SEC-02"]
        assert problem.message == ("the variable named in preSharedKey.env is not set")
        assert "the key itself" in problem.hint
        assert_never_shown(validation, name)

    def test_unset_web_service_variable_is_not_named(self, tmp_path):
        name = "XS9CLIENTSECRETVALUE"
        text = changed(
            "clientSecret: { env: NORDWIND_CLIENT_SECRET }",
            f"clientSecret: {{ env: {name} }}",
            WITH_SERVICE,
        )
        validation = validate_text(tmp_path, text, ENVIRON)
        [problem] = [p for p in validation.problems if p.rule == "SEC-02"]
        assert problem.message == "the variable named in clientSecret.env is not set"
        assert "the secret itself" in problem.hint
        assert_never_shown(validation, name)

    @pytest.mark.parametrize(
        "name", ["NORDWIND_TUNNEL1_PSK", "OAUTH2_CLIENT_SECRET", "K8S_TOKEN"]
    )
    def test_ordinary_variable_name_is_named(self, tmp_path, name):
        text = changed(PSK_REF, f"preSharedKey: {{ env: {name} }}")
        validation = validate_text(tmp_path, text, environ={})
        problem = next(p for p in validation.problems if p.rule == "SEC-02")
        assert problem.message.startswith(f"{name} is not set")
