"""Uploads: a zip or files stored by content hash; hostile archives refused whole, nothing written."""
import io
import os
import struct
import zipfile

import pytest

from app.projects import services, storage
from tests.projects.conftest import make_zip
from tests.projects.helpers import make_project


def _upload(client, project, data: bytes, name: str = "project.zip", htmx: bool = False):
    # The upload form carries its own CSRF token (htmx sends the form's fields too).
    return client.post(f"/projects/{project.id}/files",
                       data={"files": (io.BytesIO(data), name), "csrf_token": client.csrf_token},
                       content_type="multipart/form-data", htmx=htmx)


def _all_files_under(folder):
    return sorted(os.path.join(root, name) for root, _dirs, names in os.walk(folder) for name in names)


@pytest.mark.postgres
def test_a_zip_is_imported_and_the_same_bytes_are_stored_once(app, login_as):
    owner = login_as()
    project = make_project(owner.user)
    response = _upload(owner, project, make_zip({"a/one.txt": b"same", "b/two.txt": b"same", "c.json": b"{}"}))
    assert response.status_code == 303
    rows, _more = services.files_page(services.get_project_for(owner.user, project.id), 1)
    assert [row.path for row in rows] == ["a/one.txt", "b/two.txt", "c.json"]
    assert rows[0].file_hash == rows[1].file_hash == storage.hash_of(b"same")
    blobs = _all_files_under(os.path.join(app.config["PROJECT_STORAGE"], "blobs"))
    assert len(blobs) == 2
    page = owner.get(f"/projects/{project.id}").get_data(as_text=True)
    assert "one.txt" in page and "3 · " in page


def test_single_files_upload_with_htmx_and_replace_the_same_path(app, login_as):
    owner = login_as()
    project = make_project(owner.user, {"notes.txt": b"old"})
    response = _upload(owner, project, b"new", name="notes.txt", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith(str(project.id))
    rows, _ = services.files_page(project, 1)
    assert len(rows) == 1 and storage.read(rows[0].file_hash) == b"new"


def _crafted_zip(name: bytes, data: bytes = b"x", utf8: bool = False) -> bytes:
    """A one-file stored zip whose name is exactly `name` (bytes), UTF-8 flag as given."""
    import zlib
    crc = zlib.crc32(data)
    flags = 0x800 if utf8 else 0
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, 0, 0, 0, crc, len(data), len(data),
                          len(name), 0, 0, 0, 0, 0, 0)
    body = local + name + data
    directory = central + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


def _bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"\0" * (900 * 1024))
    return buffer.getvalue()


def _many_files() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for number in range(10_000):
            archive.writestr(f"f/{number}.txt", b"")
    return buffer.getvalue()


HOSTILE = {
    "zip-slip": (lambda: make_zip({"ok.txt": b"fine", "../../escaped.txt": b"pwned"}), "outside the project"),
    "absolute": (lambda: make_zip({"/etc/cron.d/evil": b"pwned"}), "outside the project"),
    "drive letter": (lambda: _crafted_zip(b"C:/Windows/evil.txt", utf8=True), "outside the project"),
    "backslashes": (lambda: _crafted_zip(b"..\\..\\evil.txt", utf8=True), "outside the project"),
    "symlink": (lambda: make_zip({"ok.txt": b"fine"}, symlinks={"link": "/etc/passwd"}), "symbolic links"),
    "zip bomb": (_bomb, "zip bomb"),
    "10,000 files": (_many_files, "at most 2,000 files"),
    "huge file": (lambda: make_zip({"huge.bin": os.urandom(1024) * 1100}), "allowed for one file"),
    "non-UTF-8 name": (lambda: _crafted_zip("café.txt".encode("latin-1")), "not UTF-8"),
    "not a zip": (lambda: b"PK\x03\x04 this is not really an archive", "not a zip archive"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_archives_are_refused_whole_with_a_report_and_nothing_written(app, login_as, tmp_path, kind):
    app.config.update(PROJECT_MAX_FILE_BYTES=1024 * 1024, PROJECT_MAX_TOTAL_BYTES=8 * 1024 * 1024)
    owner = login_as()
    project = make_project(owner.user)
    build, expected = HOSTILE[kind]
    before = _all_files_under(tmp_path)
    response = _upload(owner, project, build())
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Nothing was imported" in text and expected in text, text[text.find("Upload refused"):][:600]
    assert services.files_page(project, 1)[0] == []
    assert _all_files_under(tmp_path) == before  # nothing in storage, nothing beside it
    assert not os.path.exists(tmp_path.parent / "escaped.txt")


def test_an_upload_over_the_total_limit_is_refused(app, login_as):
    app.config.update(PROJECT_MAX_TOTAL_BYTES=1024)
    owner = login_as()
    project = make_project(owner.user)
    response = _upload(owner, project, os.urandom(4096), name="big.bin", htmx=True)
    assert response.status_code == 200 and "Nothing was imported" in response.get_data(as_text=True)
    assert services.files_page(project, 1)[0] == []


def test_preview_is_escaped_text_and_download_is_an_attachment_with_nosniff(app, login_as):
    owner = login_as()
    project = make_project(owner.user, {"evil.html": b"<script>alert(1)</script><img src=x onerror=alert(2)>"})
    row = services.files_page(project, 1)[0][0]
    page = owner.get(f"/projects/{project.id}/files/{row.id}").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    response = owner.get(f"/projects/{project.id}/files/{row.id}/download")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/octet-stream"
    assert response.data == b"<script>alert(1)</script><img src=x onerror=alert(2)>"
