"""Each validator on a real-looking project: secrets, syntax, schemas with their lines, policy."""
import pytest

from app.projects import services
from app.projects.models import ProjectError
from app.projects.validators.schema import parse
from tests.factories import make_user
from tests.projects.conftest import REAL_LOOKING
from tests.projects.helpers import make_project, validate


def _findings(run):
    from sqlalchemy import select

    from app.extensions import db
    return list(db.session.scalars(select(ProjectError).where(ProjectError.run_id == run.id)))


def _where(findings, code_prefix):
    return {(f.file_path, f.line_number) for f in findings if f.error_code.startswith(code_prefix)}


@pytest.mark.postgres
def test_a_real_looking_project_reports_its_planted_secrets_broken_yaml_and_schema_mismatch(app):
    user = make_user()
    project = make_project(user, REAL_LOOKING)
    run = validate(user, project)
    assert run.status == "succeeded"
    findings = _findings(run)
    secrets = _where(findings, "secret-")
    assert ("app/settings.py", 4) in secrets  # the AWS-style key, on its line
    assert any(path == "deploy/id_rsa" for path, _line in secrets)  # the private key
    assert all("AKIAIOSFODNN7EXAMPLE" not in f.message for f in findings)  # never repeated
    assert ("config/broken.yaml", 4) in _where(findings, "yaml-invalid")
    assert ("services/api.json", 4) in _where(findings, "schema-mismatch")  # "replicas": "three"
    assert not _where(findings, "python-syntax")
    assert run.summary["validators"]["gauntlet"]["status"] == "skipped"  # off by default
    assert run.summary["validators"]["schema"]["status"] == "failed"
    assert run.errors_found == sum(1 for f in findings if f.severity == "error")
    project = services.get_project_for(user, project.id)
    assert project.health_score == services.health_score(project.error_count, project.warning_count) < 100
    assert project.sheriff_status == "failed" and project.validation_count == 1


def test_python_syntax_forbidden_text_size_and_schema_by_setting(app):
    user = make_user()
    project = make_project(user, {
        "tool.py": b"def broken(:\n    pass\n",
        "notes.txt": b"ok\nthis uses INTERNAL-ONLY data\n",
        "big.bin": b"x" * 3000,
        "config/a.yaml": b"name: 5\n",
        "schemas/named.json": b'{"properties": {"name": {"type": "string"}}}',
        "settings.toml": b"[a]\nb = \n",
    })
    services.update_settings(user, project.id, description="", json_schemas={"config/*.yaml": "schemas/named.json"},
                             forbidden_patterns=["INTERNAL-ONLY"], max_file_bytes=2000, test_command="")
    findings = _findings(validate(user, project))
    assert ("tool.py", 1) in _where(findings, "python-syntax")
    assert ("notes.txt", 2) in _where(findings, "forbidden-pattern")
    assert ("big.bin", None) in _where(findings, "file-too-large")
    assert ("config/a.yaml", 1) in _where(findings, "schema-mismatch")
    assert ("settings.toml", 2) in _where(findings, "toml-invalid")


def test_parse_reports_lines_for_json_yaml_and_toml():
    for kind, text, line in (("json", '{\n "a": 1,\n}', 3), ("yaml", "a: 1\nb: [\n", 3), ("toml", "a = 1\nb = \n", 2)):
        with pytest.raises(ValueError) as error:
            parse(kind, text)
        assert error.value.args[1] == line, (kind, error.value.args)


def test_a_clean_project_scores_100(app):
    user = make_user()
    project = make_project(user, {"main.py": b"print('hi')\n", "data.json": b'{"a": [1, 2]}'})
    run = validate(user, project)
    assert run.errors_found == 0 and services.get_project_for(user, project.id).health_score == 100


def test_the_health_score_is_one_function():
    assert services.health_score(0, 0) == 100
    assert services.health_score(1, 0) == 90
    assert services.health_score(0, 5) == 90
    assert services.health_score(50, 50) == 0
