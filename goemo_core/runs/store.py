"""The store of run folders under $GOEMO_HOME/runs: creating a run with a fresh id, listing and reading runs (an
unreadable one is listed with its reason), ensemble members, deleting, and noticing runs whose owner died."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import time
from pathlib import Path

from ..errors import MissingResource
from ..settings import Settings, ensure_folder, ensure_home, get_settings
from .folder import ACTIVE, ACTIVE_LOCK, Run
from .processes import process_alive, process_start_time

_MAX_RUN_ID = 200  # bytes: with the hidden prefix and suffix `delete` adds, still under the usual 255-byte limit
_CREATE_TRIES = 20  # fresh random suffixes tried when a run id is already taken


class RunStore:
    """All runs under one folder. Run ids sort by creation time: <arch>-<yyyymmdd-hhmmss>-<random>."""

    def __init__(self, root: Path | None = None, settings: Settings | None = None):
        self.root = Path(root) if root is not None else (settings or get_settings()).runs_dir

    def create(self, config: dict) -> Run:
        """A new run folder with its config, owner and status 'running'. An id that is taken (two runs started in
        the same second drew the same suffix) is replaced by a fresh one; an unwritable folder is a clear error."""
        if self.root == get_settings().runs_dir:
            ensure_home()
        ensure_folder(self.root)
        try:
            for _ in range(_CREATE_TRIES):
                run_id = f"{config.get('arch', 'run')}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
                try:
                    (self.root / run_id).mkdir()
                    break
                except FileExistsError:
                    continue
            else:
                raise MissingResource(f"Could not find a free run id under {self.root} after {_CREATE_TRIES} tries; "
                                      "try again.")
        except OSError as exc:
            raise MissingResource(f"Cannot create a run folder under {self.root} ({exc.strerror or exc}). Set "
                                  "GOEMO_HOME to a folder you can write to.") from None
        run = Run(run_id, self.root / run_id)
        with ACTIVE_LOCK:
            ACTIVE.add(run_id)
        try:
            run.write_json("config.json", {**config, "run_id": run_id,
                                           "created": time.strftime("%Y-%m-%d %H:%M:%S")})
            run.write_json("owner.json", {"pid": os.getpid(), "host": socket.gethostname(),
                                          "started": process_start_time(os.getpid())})
            run.set_status("running")
        except OSError as exc:  # e.g. a full disk: leave no half-made run behind
            with ACTIVE_LOCK:
                ACTIVE.discard(run_id)
            shutil.rmtree(run.path, ignore_errors=True)
            raise MissingResource(f"Cannot write the run folder {run.path} ({exc.strerror or exc}). Free some space "
                                  "or set GOEMO_HOME to a folder you can write to.") from None
        return run

    def reopen(self, run: Run) -> Run:
        """A stopped run of this folder taken up again by this process: owner.json names it, the status is
        'running'."""
        with ACTIVE_LOCK:
            ACTIVE.add(run.run_id)
        try:
            run.write_json("owner.json", {"pid": os.getpid(), "host": socket.gethostname(),
                                          "started": process_start_time(os.getpid())})
            run.set_status("running")
        except OSError as exc:
            with ACTIVE_LOCK:
                ACTIVE.discard(run.run_id)
            raise MissingResource(f"Cannot write the run folder {run.path} ({exc.strerror or exc}).") from None
        return run

    def _scan(self) -> list[Run]:
        """Every run folder (one with a config.json), readable or not, newest first. Hidden names are skipped:
        they are folders being deleted."""
        try:
            entries = list(self.root.iterdir()) if self.root.is_dir() else []
        except OSError:
            return []
        runs = []
        for p in entries:
            try:
                if not p.name.startswith(".") and p.is_dir() and (p / "config.json").is_file():
                    runs.append(Run(p.name, p))
            except OSError:  # an entry that vanished or cannot be read: not a run
                continue
        return sorted(runs, key=lambda r: r.run_id.split("-", 1)[-1], reverse=True)

    def list(self) -> list[Run]:
        """The readable runs, newest first (see `unreadable` for the others): only folders whose name a run id may
        have, so every run listed can be named to the other commands."""
        return [run for run in self._scan() if name_problem(run.run_id) is None and run.problem is None]

    def unreadable(self) -> list[tuple[str, str]]:
        """(name, reason) of every run folder whose name no run id may have, or with a file that does not fit its
        schema."""
        found = []
        for run in self._scan():
            reason = name_problem(run.run_id) or run.problem
            if reason is not None:
                found.append((run.run_id, reason))
        return found

    def get(self, run_id: str) -> Run:
        """A run folder by id, readable or not (so a damaged run can still be deleted)."""
        shown = run_id if len(str(run_id)) <= 80 else f"{str(run_id)[:80]}…"
        missing = MissingResource(f"No run '{shown}' under {self.root}. `python -m goemo_core runs list` shows "
                                  "the runs there (GOEMO_HOME selects the artifacts folder).")
        if not _plausible_run_id(run_id):
            raise missing
        run = Run(run_id, self.root / run_id)
        try:
            if not (run.path / "config.json").is_file():
                raise missing
        except OSError:  # e.g. a name the file system refuses
            raise missing from None
        return run

    def members(self, run: Run) -> list[Run]:
        """The member runs of an ensemble run, or a clear error when one is gone, unreadable, or the membership
        loops back to the ensemble itself (an ensemble of ensembles is fine; a cycle would never end)."""
        self._check_acyclic(run, [])
        members = run.config.get("members")
        if not isinstance(members, list) or not members:
            raise MissingResource(f"Run {run.run_id}: config.json lists no ensemble members.")
        gone = [str(m) for m in members if not _plausible_run_id(m) or not (self.root / m / "config.json").is_file()]
        if gone:
            raise MissingResource(f"Ensemble {run.run_id}: member run(s) {', '.join(gone)} no longer exist; the "
                                  "ensemble cannot be used.")
        return [self.get(str(member)) for member in members]

    def _check_acyclic(self, run: Run, path: list[str]) -> None:
        if run.run_id in path:
            loop = " → ".join([*path[path.index(run.run_id):], run.run_id])
            raise MissingResource(f"Ensemble {path[0]} cannot be used: its members loop back to themselves "
                                  f"({loop}).")
        if not run.is_ensemble:
            return
        for member in run.config.get("members") or []:
            if _plausible_run_id(member) and (self.root / member / "config.json").is_file():
                self._check_acyclic(Run(member, self.root / member), [*path, run.run_id])

    def delete(self, run_id: str) -> None:
        """Delete a run folder, never one that is training (here or in another live process) and never through a
        symbolic link. The folder is first renamed to a hidden name, so a failure leaves the run whole or gone."""
        run = self.get(run_id)
        with ACTIVE_LOCK:
            if run_id in ACTIVE:
                raise MissingResource(f"Run {run_id} is still training; cancel its job before deleting it.")
        if run.status == "running" and self._owner_alive(run):
            owner = run.owner
            raise MissingResource(f"Run {run_id} is still training (process {owner.get('pid', '?')} on "
                                  f"{owner.get('host', '?')}); cancel or stop it before deleting it.")
        if run.path.is_symlink():
            raise MissingResource(f"{run.path} is a symbolic link; it is not deleted (only run folders inside "
                                  f"{self.root} are). Remove the link yourself if it should go.")
        trash = self.root / f".deleting-{run_id}-{secrets.token_hex(4)}"
        try:
            os.rename(run.path, trash)
        except OSError as exc:
            raise MissingResource(f"Cannot delete run {run_id}: {self.root} is not writable "
                                  f"({exc.strerror or exc}). Nothing was deleted.") from None
        try:
            shutil.rmtree(trash)
        except OSError as exc:
            try:  # put back what is left, so the run stays visible rather than half-hidden
                os.rename(trash, run.path)
            except OSError:
                pass
            raise MissingResource(f"Cannot delete run {run_id} completely ({exc.strerror or exc}); check the "
                                  f"permissions of {run.path}.") from None

    def staging(self, purpose: str) -> Path:
        """A new hidden folder inside the runs folder, for a run being assembled (listings skip hidden names); on the
        same file system as the runs, so `adopt` renames it into place in one step."""
        if self.root == get_settings().runs_dir:
            ensure_home()
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / f".{purpose}-{secrets.token_hex(6)}"
        folder.mkdir()
        return folder

    def adopt(self, folder: Path, run_id: str) -> Run:
        """A whole, checked run folder (see `staging`) becomes run `run_id` in one rename; an id already taken or
        not a plain folder name is refused and the folder is left where it is."""
        if not plausible_run_id(run_id):
            raise MissingResource(f"'{str(run_id)[:80]}' cannot name a run folder.")
        target = self.root / run_id
        if target.exists():
            raise MissingResource(f"Run {run_id} is already under {self.root}.")
        try:
            os.rename(folder, target)
        except OSError as exc:  # a folder of that name appeared meanwhile, or the disk refuses
            raise MissingResource(f"Cannot place run {run_id} under {self.root} ({exc.strerror or exc}).") from None
        return Run(run_id, target)

    def live(self) -> list[Run]:
        """The runs still being trained: status 'running' and an owner process that is alive. Newest first."""
        # the status first: it is one small file, and few runs are running, so most folders are never validated
        return [run for run in self._scan() if run.status == "running" and name_problem(run.run_id) is None
                and run.problem is None and self._owner_alive(run)]

    def mark_interrupted(self) -> list[str]:
        """Runs left 'running' by a process that is gone (or by this process, which no longer writes them)
        become 'interrupted'. Returns their ids."""
        marked = []
        for run in self.list():
            if run.status != "running" or self._owner_alive(run):
                continue
            run.set_status("interrupted")
            marked.append(run.run_id)
        return marked

    @staticmethod
    def _owner_alive(run: Run) -> bool:
        """Whether the process recorded in owner.json still trains the run: the same pid AND the same start time
        (a pid reused by an unrelated process is not the owner). A run of another host cannot be checked from here
        and counts as alive; an unreadable or impossible owner counts as gone."""
        with ACTIVE_LOCK:
            if run.run_id in ACTIVE:
                return True
        owner = run.owner
        pid, host = owner.get("pid"), owner.get("host")
        if host is not None and host != socket.gethostname():
            return True
        if pid == os.getpid():  # this process no longer writes it (not in ACTIVE)
            return False
        return process_alive(pid, owner.get("started"))


def name_problem(run_id: object) -> str | None:
    """Why `run_id` cannot be a run id (a name that can only mean a folder directly inside the runs folder), or
    None. A folder with such a name is listed as unreadable: no command could name it (remove it by hand)."""
    if not isinstance(run_id, str) or not run_id:
        return "a run id is a non-empty name"
    size = len(run_id.encode("utf-8", "surrogatepass"))
    if size > _MAX_RUN_ID:
        return f"its name is {size:,} bytes long, more than a run id's {_MAX_RUN_ID} (rename or remove the folder)"
    if run_id in (".", "..") or run_id.startswith("."):
        return "its name is hidden (starts with '.'), which a run id never is"
    for character, name in (("/", "a slash"), ("\\", "a backslash"), ("\x00", "a NUL character")):
        if character in run_id:
            return f"its name holds {name}, which a run id may not (rename or remove the folder)"
    return None


def plausible_run_id(run_id: str) -> bool:
    """Whether `run_id` (e.g. one read from another machine) can only name a folder directly inside the runs
    folder."""
    return _plausible_run_id(run_id)


def _plausible_run_id(run_id: str) -> bool:
    """A name that can only mean a folder directly inside the runs folder."""
    return name_problem(run_id) is None
