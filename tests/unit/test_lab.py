"""The students' lab: command line, environment and the course's own Jupyter configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from attn_course import lab


def test_root_gets_allow_root_and_options_pass_through(tmp_path):
    command = lab.lab_command(tmp_path, ["--port", "9999", "--no-browser"], is_root=True)
    assert command[:4] == [sys.executable, "-m", "jupyter", "lab"]
    assert "--allow-root" in command
    assert command[-3:] == ["--port", "9999", "--no-browser"]
    assert "--allow-root" not in lab.lab_command(tmp_path, [], is_root=False)
    twice = lab.lab_command(tmp_path, ["--allow-root"], is_root=True)
    assert twice.count("--allow-root") == 1


def test_an_explicit_root_dir_wins(tmp_path):
    command = lab.lab_command(tmp_path, ["--ServerApp.root_dir=/elsewhere"], is_root=False)
    assert [a for a in command if "root_dir" in a] == ["--ServerApp.root_dir=/elsewhere"]


def test_environment_adds_the_course_config_and_keeps_the_users_startup():
    env = lab.lab_environment({"JUPYTER_CONFIG_PATH": "/theirs", "PYTHONSTARTUP": "/their.py"})
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(lab.LAB_CONFIG), "/theirs"]
    assert env["PYTHONSTARTUP"] == str(lab.STARTUP)
    assert env["ATTN_COURSE_USER_PYTHONSTARTUP"] == "/their.py"
    again = lab.lab_environment(env)
    assert again["JUPYTER_CONFIG_PATH"] == env["JUPYTER_CONFIG_PATH"]
    assert again["ATTN_COURSE_USER_PYTHONSTARTUP"] == "/their.py"


def test_the_course_config_turns_nbgrader_off_for_the_server_and_the_page(tmp_path):
    """What Jupyter itself concludes from the course config, in an otherwise empty setup."""
    clean = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "user")}
    clean.pop("JUPYTER_CONFIG_PATH", None)
    code = (
        "import json; from jupyter_server.extension.config import ExtensionConfigManager;"
        "from jupyter_core.paths import jupyter_config_path;"
        "m = ExtensionConfigManager(read_config_path=jupyter_config_path());"
        "print(json.dumps(m.get_jpserver_extensions()))"
    )

    def enabled(env: dict) -> dict[str, bool]:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True, timeout=120)  # fmt: skip
        return json.loads(done.stdout)

    default, course = enabled(clean), enabled(lab.lab_environment(clean))
    nbgrader = [name for name in default if name.startswith("nbgrader")]
    assert nbgrader and all(default[name] for name in nbgrader), default
    assert not any(course[name] for name in nbgrader), course
    page = json.loads((lab.LAB_CONFIG / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader"] is True
    assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True


def test_trust_signs_notebooks_and_skips_unreadable_ones(tmp_path, monkeypatch):
    import nbformat
    from nbformat.sign import NotebookNotary

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))  # the signature database
    good, bad = tmp_path / "01_good.ipynb", tmp_path / "02_bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), good)
    bad.write_text("not json")
    assert not NotebookNotary().check_signature(nbformat.read(good, as_version=4))
    lab.trust([bad, good])
    assert NotebookNotary().check_signature(nbformat.read(good, as_version=4))
