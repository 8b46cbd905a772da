"""The fixed script DataCorruption runs ON THE HOST, shipped by activities/datafiles.py as
`python3 -c <this file's source> OP DATA_DIR SESSIONS_GLOB CSV HEADER ARGS...`.

Standard library only, for any python3 >= 3.6 the host may have. Every path
arrives as its own argv word (never through a shell); every file it touches is checked
to be inside DATA_DIR first. Nothing is ever deleted or overwritten: corrupt files are
*moved* into the quarantine folder, restores and the rebuilt CSV are written next to
their target and linked/renamed into place, a CSV about to be replaced is copied to the
quarantine folder first. Output: one JSON document on the first stdout line; `scan`
then prints the matching log lines (kept out of the JSON: the worker redacts output as
text, and a redaction must never break the document).

  scan       BACKUP_DIR|"" WRITE_PATTERN|"" MAX_LISTED LOG...
  quarantine QUARANTINE_DIR STAMP PATH...   (PATH relative to DATA_DIR; re-checked)
  restore    BACKUP_DIR PATH...
  rebuild    QUARANTINE_DIR STAMP
"""

import csv
import glob
import hashlib
import json
import os
import re
import shutil
import sys


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def json_error(path):
    """None if the file is valid JSON (the runbook's `json.load` check), else why not."""
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        return (type(e).__name__ + ": " + str(e))[:200]
    except OSError as e:
        return "unreadable: " + str(e)[:200]
    return None


def check_csv(path, header):
    """The runbook's CSV check: the header, and every row's length against it."""
    out = {
        "path": os.path.basename(path),
        "exists": os.path.isfile(path),
        "header_ok": False,
        "rows": 0,
        "bad_rows": 0,
        "first_bad": [],
        "error": "",
    }
    if not out["exists"]:
        return out
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            first = next(reader, None)
            out["header_ok"] = first == header
            for row in reader:
                out["rows"] += 1
                if len(row) != len(header):
                    out["bad_rows"] += 1
                    if len(out["first_bad"]) < 10:
                        out["first_bad"].append([reader.line_num, len(row)])
    except (csv.Error, UnicodeDecodeError, OSError) as e:
        out["error"] = (type(e).__name__ + ": " + str(e))[:200]
    return out


def csv_ok(report):
    return (
        report["exists"] and report["header_ok"] and not report["bad_rows"] and not report["error"]
    )


def inside(data, path):
    """`path` (relative to data) resolved, if it stays inside data; else None."""
    if not path or os.path.isabs(path):
        return None
    full = os.path.realpath(os.path.join(data, path))
    return full if full.startswith(os.path.realpath(data) + os.sep) else None


def sessions(data, pattern):
    found = glob.glob(os.path.join(data, pattern), recursive=True)
    return sorted(p for p in found if os.path.isfile(p) and not os.path.islink(p))


def backup_copy(backup, rel):
    """A valid JSON copy of session `rel` in the backup dir: BACKUP/REL, BACKUP/NAME,
    then the newest dated subfolder (names sort by date: BACKUP/20260101/NAME)."""
    if not backup or not os.path.isdir(backup):
        return None
    name = os.path.basename(rel)
    subdirs = sorted(
        (d for d in os.listdir(backup) if os.path.isdir(os.path.join(backup, d))), reverse=True
    )
    for cand in [os.path.join(backup, rel), os.path.join(backup, name)] + [
        os.path.join(backup, d, p) for d in subdirs for p in (rel, name)
    ]:
        if os.path.isfile(cand) and json_error(cand) is None:
            return cand
    return None


def scan(data, pattern, csv_rel, header, args):
    backup, write_pattern, max_listed, logs = args[0], args[1], int(args[2]), args[3:]
    files = sessions(data, pattern)
    invalid = []
    for p in files:
        err = json_error(p)
        if err is not None:
            invalid.append({"path": os.path.relpath(p, data), "error": err})
    newest = sorted(files, key=lambda p: os.stat(p).st_mtime, reverse=True)[:10]
    names = set(os.path.basename(p) for p in files)
    in_backup = set()
    if backup and os.path.isdir(backup):
        for _root, _dirs, fs in os.walk(backup):
            in_backup.update(f for f in fs if f.endswith(".json"))
    report = {
        "counts": {
            "sessions_valid": len(files) - len(invalid),
            "sessions_invalid": len(invalid),
            "csv": dict(check_csv(os.path.join(data, csv_rel), header), path=csv_rel),
        },
        "invalid": invalid[:max_listed],
        "recent": [
            f"{os.path.relpath(p, data)} {os.stat(p).st_size} bytes "
            f"mtime {int(os.stat(p).st_mtime)}"
            for p in newest
        ],
        "backup_configured": bool(backup),
        "backup_covers": [
            b["path"] for b in invalid[:max_listed] if backup_copy(backup, b["path"])
        ],
        "missing_from_data": len(in_backup - names),
    }
    print(json.dumps(report))
    if write_pattern:
        rx, hits = re.compile(write_pattern, re.IGNORECASE), []
        for log in logs:
            try:
                with open(log, encoding="utf-8", errors="replace") as f:
                    hits = (hits + [ln.rstrip("\n")[:200] for ln in f if rx.search(ln)])[-20:]
            except OSError as e:
                hits.append(f"{log}: unreadable: {e}")
        for ln in hits[-20:]:
            print(ln)


def quarantine(data, pattern, csv_rel, header, args):
    qdir, stamp, paths = args[0], args[1], args[2:]
    folder = os.path.join(qdir, stamp)
    matches = set(os.path.realpath(p) for p in sessions(data, pattern))
    moved, skipped = [], []
    for rel in paths:
        full = inside(data, rel)
        if full is None or not os.path.isfile(full) or os.path.islink(os.path.join(data, rel)):
            skipped.append({"path": rel, "reason": "not a regular file inside the data dir"})
            continue
        # Re-checked now: a file fixed since the scan is valid and stays where it is.
        if full in matches:
            still_bad = json_error(full) is not None
        elif os.path.normpath(rel) == os.path.normpath(csv_rel):
            still_bad = not csv_ok(check_csv(full, header))
        else:
            skipped.append({"path": rel, "reason": "neither a session file nor the CSV"})
            continue
        if not still_bad:
            skipped.append({"path": rel, "reason": "valid now: left in place"})
            continue
        dest = os.path.join(folder, os.path.relpath(full, os.path.realpath(data)))
        if os.path.lexists(dest):
            skipped.append({"path": rel, "reason": "already in quarantine: " + dest})
            continue
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            digest, size = sha256(full), os.path.getsize(full)
            shutil.move(full, dest)  # a rename on one filesystem; copy-then-remove across
        except OSError as e:  # reported, and the other files still go: JSON always printed
            skipped.append({"path": rel, "reason": f"not moved: {e}"})
            continue
        moved.append({"path": rel, "to": dest, "size_bytes": size, "sha256": digest})
    print(json.dumps({"folder": folder, "moved": moved, "skipped": skipped}))


def link_into_place(tmp, dest):
    """Move tmp to dest unless dest exists (never overwrite): link is atomic and fails
    on an existing name; the temporary name is then ours to drop."""
    try:
        os.link(tmp, dest)
    finally:
        os.unlink(tmp)


def restore(data, pattern, csv_rel, header, args):
    backup, paths = args[0], args[1:]
    restored, missing, skipped = [], [], []
    for rel in paths:
        full = inside(data, rel)
        if full is None or not rel.endswith(".json"):
            skipped.append({"path": rel, "reason": "not a session file inside the data dir"})
            continue
        src = backup_copy(backup, rel)
        if src is None:
            missing.append(rel)
            continue
        if os.path.lexists(full):
            skipped.append({"path": rel, "reason": "a file is there again: not overwritten"})
            continue
        tmp = full + ".remedy-restore.tmp"
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            shutil.copy2(src, tmp)
            link_into_place(tmp, full)
        except FileExistsError:
            skipped.append({"path": rel, "reason": "a file appeared: not overwritten"})
            continue
        except OSError as e:
            skipped.append({"path": rel, "reason": f"not restored: {e}"})
            continue
        restored.append({"path": rel, "source": src, "sha256": sha256(full)})
    print(json.dumps({"restored": restored, "missing": missing, "skipped": skipped}))


def rows_of(doc):
    """Runs in a session: its `runs` list (each over the session's own fields), a list
    of runs, or the session itself as one run."""
    if isinstance(doc, list):
        return [r for r in doc if isinstance(r, dict)]
    if not isinstance(doc, dict):
        return []
    runs = doc.get("runs")
    if isinstance(runs, list):
        base = dict((k, v) for k, v in doc.items() if k != "runs")
        return [dict(base, **r) for r in runs if isinstance(r, dict)]
    return [doc]


def cell(v):
    if v is None:
        return ""
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def rebuild(data, pattern, csv_rel, header, args):
    qdir, stamp = args[0], args[1]
    target = inside(data, csv_rel)
    if target is None:
        raise SystemExit(f"csv path {csv_rel!r} is not inside the data dir")
    rows, used, bad = [], 0, 0
    for p in sessions(data, pattern):
        try:
            with open(p, encoding="utf-8") as f:
                doc = json.load(f)
        except (ValueError, UnicodeDecodeError, OSError):
            bad += 1  # the runbook's "Skipping corrupted file"
            continue
        got = [r for r in rows_of(doc) if any(k in r for k in header)]
        used += 1 if got else 0
        rows += [
            (cell(r.get("ts")), os.path.relpath(p, data), [cell(r.get(k)) for k in header])
            for r in got
        ]
    rows.sort(key=lambda t: (t[0], t[1]))
    tmp = target + ".remedy-rebuild.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(r[2] for r in rows)
    previous = None
    if os.path.lexists(target):  # never overwritten without a copy in quarantine
        base = os.path.join(qdir, stamp, os.path.relpath(target, os.path.realpath(data)))
        previous, n = base + ".pre-rebuild", 1
        while os.path.lexists(previous):
            previous, n = f"{base}.pre-rebuild.{n}", n + 1
        os.makedirs(os.path.dirname(previous), exist_ok=True)
        shutil.copy2(target, previous)
        os.replace(tmp, target)
    else:
        link_into_place(tmp, target)
    print(
        json.dumps(
            {
                "path": target,
                "rows": len(rows),
                "sessions_used": used,
                "sessions_skipped": bad,
                "previous_copy": previous,
            }
        )
    )


def main(argv):
    op, data, pattern, csv_rel, header = argv[1], argv[2], argv[3], argv[4], argv[5].split(",")
    ops = {"scan": scan, "quarantine": quarantine, "restore": restore, "rebuild": rebuild}
    if op not in ops or not os.path.isdir(data):
        sys.stderr.write(f"usage: OP DATA_DIR ...; op {op!r}, data dir {data!r}\n")
        return 2
    ops[op](data, pattern, csv_rel, header, argv[6:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
