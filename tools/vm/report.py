#!/usr/bin/env python3
"""tools/vm/report.py OUT DOCS - the table and plot of `make vm-demo`.

Reads what tools/vm/vm-demo.sh left in OUT (OUT/study.txt, OUT/vN/{meta.txt,
data.log,schedstat.txt}, OUT/host/summary.csv) and writes
DOCS/vm-results.md (tables), DOCS/vm-throughput.png (plot) and OUT/vm.csv
(one row per lock, vCPU count, thread count: guest and host figures).
docs/benchmark.md, "In a virtual machine", explains every number.
"""
import csv
import io
import os
import subprocess
import sys

LOCK_LABELS = [
    ("pv-queued", "pvlock queued, pv"), ("native-queued", "pvlock queued, native"),
    ("pv-ticket", "pvlock ticket, pv"), ("native-ticket", "pvlock ticket, native"),
    ("tas", "pvlock test-and-set"), ("mutex", "glibc mutex"),
    ("mutex-adaptive", "glibc mutex, adaptive"), ("pthread-spin", "pthread_spin"),
    ("ck-ticket", "CK ticket"), ("ck-mcs", "CK mcs"), ("ck-fas", "CK fas"),
]
USER_HZ = 100  # /proc/stat ticks; 100 on every Linux x86 build


def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d


def si(x):
    if x is None:
        return "-"
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if x >= div:
            v = x / div
            return f"{v:.3g}{suf}" if v < 100 else f"{v:.0f}{suf}"
    return f"{x:.3g}"


def summaries(text_rows):
    """{(lock, threads): row} from summary.csv rows (contention study only)."""
    out = {}
    for r in csv.DictReader(io.StringIO("".join(text_rows))):
        if r["study"] == "contention":
            out[(r["lock"], int(r["threads"]))] = r
    return out


def num(row, key):
    try:
        v = float(row[key])
        return v if v == v else None
    except (KeyError, TypeError, ValueError):
        return None


def guest(out, v):
    d = os.path.join(out, f"v{v}")
    data = open(os.path.join(d, "data.log"), errors="replace").read().splitlines() \
        if os.path.exists(os.path.join(d, "data.log")) else []
    sums, procstat, exits = {}, {}, {}
    csv_rows = {}
    for line in data:
        if line.startswith("@csv summary "):
            _, _, tag, rest = line.split(" ", 3)
            csv_rows.setdefault(tag, []).append(rest + "\n")
        elif line.startswith("@@procstat "):
            f = line.split()
            procstat[f[1]] = {k: float(x) for k, x in (p.split("=") for p in f[2:])}
        elif line.startswith("@@bench-exit "):
            f = line.split()
            exits[f[1]] = int(f[2])
    for tag, rows in csv_rows.items():
        sums.update(summaries(rows))
    sched = {}
    p = os.path.join(d, "schedstat.txt")
    if os.path.exists(p):
        for line in open(p):
            f = line.split()
            if len(f) < 6:
                continue
            mark, tid, comm = f[0], f[1], f[2]
            if comm == "@host-clock-ns":
                sched.setdefault(mark, {})["clock"] = int(f[3])
            else:
                sched.setdefault(mark, {})[tid] = (comm, int(f[3]), int(f[4]), int(f[5]))
    return {"meta": kv(os.path.join(d, "meta.txt")), "sums": sums, "procstat": procstat,
            "sched": sched, "exits": exits, "booted": any(l.startswith("@@boot") for l in data),
            "finished": any(l.startswith("@@exit 0") for l in data)}


def cpus_used(sums, threads):
    """Median over locks of the CPU time per second the benchmark's process
    counted (getrusage), at this thread count: the CPUs it saw itself get."""
    v = sorted(num(r, "cpu_s_per_macq") * num(r, "acq_per_s_median") / 1e6
               for (l, t), r in sums.items()
               if t == threads and num(r, "cpu_s_per_macq") and num(r, "acq_per_s_median"))
    return v[len(v) // 2] if v else None


def truth(g, a, b, vcpus):
    """Guest and host truth between marks a and b."""
    ps, sc = g["procstat"], g["sched"]
    if a not in ps or b not in ps or a not in sc or b not in sc:
        return None
    up = ps[b]["uptime"] - ps[a]["uptime"]
    wall = (sc[b]["clock"] - sc[a]["clock"]) / 1e9
    run = wait = slices = other = 0
    n = 0
    for tid, v in sc[b].items():
        if tid == "clock" or tid not in sc[a]:
            continue
        comm, r1, w1, s1 = v
        _, r0, w0, s0 = sc[a][tid]
        if comm.startswith("CPU_"):
            run += r1 - r0
            wait += w1 - w0
            slices += s1 - s0
            n += 1
        else:
            other += r1 - r0
    return {
        "wall": wall, "guest_s": up,
        "steal_s": (ps[b]["steal"] - ps[a]["steal"]) / USER_HZ,
        "ctxt_per_s": (ps[b]["ctxt"] - ps[a]["ctxt"]) / up if up > 0 else None,
        "vcpu_threads": n,
        "vcpu_cpus": run / 1e9 / wall if wall > 0 else None,
        "vcpu_run_frac": run / 1e9 / wall / vcpus if wall > 0 else None,
        "vcpu_wait_frac": wait / 1e9 / wall / vcpus if wall > 0 else None,
        "slice_ms": run / 1e6 / slices if slices else None,
        "other_cpus": other / 1e9 / wall if wall > 0 else None,
    }


def main():
    out, docs = sys.argv[1], sys.argv[2]
    study = kv(os.path.join(out, "study.txt"))
    vlist = [int(x) for x in study.get("vcpus", "2 3 4 8").split()]
    P = int(study.get("pcpus", "2"))
    hp = os.path.join(out, "host", "summary.csv")
    host = summaries(open(hp).readlines()) if os.path.exists(hp) else {}
    gs = {v: guest(out, v) for v in vlist}
    locks = [(l, lab) for l, lab in LOCK_LABELS
             if any((l, t) in g["sums"] for g in gs.values() for t in (1, 2, 3, 4, 6, 8, 16)) or
             any(k[0] == l for k in host)]

    md = []
    w = md.append
    meta = next((g["meta"] for g in gs.values() if g["meta"]), {})
    w("# make vm-demo: results\n")
    w("Generated by `make vm-demo` (tools/vm/vm-demo.sh, tools/vm/report.py); "
      "docs/benchmark.md, \"In a virtual machine\", explains every number.\n")
    w(f"* Run: {study.get('date', '?')}, commit {study.get('commit', 'unknown')}, machine "
      f"{study.get('machine', '?')}; {study.get('elapsed_s', '?')} s in all "
      f"(including waits for the shared measurement lock); load average "
      f"{study.get('load_start', '?')} at the start, {study.get('load_end', '?')} at the end.")
    w(f"* Accelerator: {meta.get('accel', '?')} ({meta.get('accel_why', '?')}). "
      f"{meta.get('qemu', '')}; guest kernel {os.path.basename(meta.get('kernel', '?'))}.")
    ag = study.get("autogroup_nice", "none")
    w(f"* Scheduler autogroup nice of QEMU and of the host runs: {ag} "
      + ("(other sessions' nice 19 work yields to them)." if ag not in ("none", "", "0")
         else "(they share the CPUs equally with other sessions' work)."))
    w(f"* Every guest's vCPUs (V = {', '.join(map(str, vlist))}) pinned to {P} host CPUs "
      f"({meta.get('host_cpus', '?')}) with taskset; the host runs use the same "
      f"{P} CPUs and the same static binary.")
    w(f"* Each cell: acquisitions per second, median of {study.get('repeat', '?')} runs of "
      f"{study.get('duration_s', '?')} s, interleaved across locks "
      f"(`pvlock-bench --cpus V --threads T --duration {study.get('duration_s', '?')} "
      f"--repeat {study.get('repeat', '?')}` in the guest, `--cpus {P}` on the host).\n")
    for g in gs.values():
        pass
    missing = [v for v, g in gs.items() if not g["finished"]]
    if missing:
        w(f"**Incomplete:** the guest with V = {', '.join(map(str, missing))} did not "
          "finish its job; its cells are `-`.\n")

    rows_csv = []
    for label, mult in (("threads = vCPUs: no overcommit inside the guest (the seeds' case)", 1),
                        ("threads = 2 x vCPUs: the guest is overcommitted too", 2)):
        w(f"## {label}\n")
        head = "| lock |" + "".join(f" V={v} (V/P={v / P:g}), {mult * v} thr: guest | host |"
                                    for v in vlist)
        w(head)
        w("|---|" + "---:|---:|" * len(vlist))
        for l, lab in locks:
            cells = []
            for v in vlist:
                t = mult * v
                gr = gs[v]["sums"].get((l, t))
                hr = host.get((l, t))
                ga, ha = (num(gr, "acq_per_s_median") if gr else None), \
                         (num(hr, "acq_per_s_median") if hr else None)
                cells += [si(ga), si(ha)]
                rows_csv.append([l, v, P, t, ga, num(gr, "acq_per_s_min") if gr else None,
                                 num(gr, "acq_per_s_max") if gr else None, ha,
                                 num(gr, "vcsw_per_s") if gr else None,
                                 num(gr, "ivcsw_per_s") if gr else None,
                                 num(gr, "min_max") if gr else None,
                                 num(gr, "pv_steals_per_s") if gr else None])
            w(f"| {lab} | " + " | ".join(cells) + " |")
        w("")

    w("## What the guest and the host saw\n")
    w("Between the marks the guest prints before and after each thread count "
      "(`@@mark`, tools/vm/init): guest-wide steal time and context switches from "
      "the guest's /proc/stat, and from the host's /proc/PID/task/*/schedstat of "
      "QEMU the CPU time its vCPU threads got, their time runnable but waiting "
      "for a host CPU, and their mean slice.\n")
    w("| V (V/P) | threads | wall s | guest steal s | guest ctxt/s | guest: CPUs the bench got | "
      f"vCPU threads' CPUs (of {P}) | each vCPU ran | each vCPU waited | mean slice ms | "
      "other QEMU threads' CPUs |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for v in vlist:
        g = gs[v]
        for a, b, t in ((f"t{v}", f"t{2 * v}", v), (f"t{2 * v}", "end", 2 * v)):
            tr = truth(g, a, b, v)
            f = lambda x, fmt: "-" if x is None else format(x, fmt)
            gc = f(cpus_used(g["sums"], t), '.2f')
            if not tr:
                w(f"| {v} ({v / P:g}) | {t} | - | - | - | {gc} | - | - | - | - | - |")
                continue
            w(f"| {v} ({v / P:g}) | {t} | {tr['wall']:.0f} | {tr['steal_s']:.2f} | "
              f"{si(tr['ctxt_per_s'])} | {gc} | {f(tr['vcpu_cpus'], '.2f')} | "
              f"{f(tr['vcpu_run_frac'] and 100 * tr['vcpu_run_frac'], '.0f')}% | "
              f"{f(tr['vcpu_wait_frac'] and 100 * tr['vcpu_wait_frac'], '.0f')}% | "
              f"{f(tr['slice_ms'], '.2f')} | {f(tr['other_cpus'], '.2f')} |")
    w("")
    hts = sorted({t for (_, t) in host})
    if hts:
        w("The host runs, at the same thread counts on the same host CPUs: the CPU time per "
          "second their process got (getrusage; median over locks), out of "
          f"{P} CPUs.\n")
        w("| threads | " + " | ".join(str(t) for t in hts) + " |")
        w("|---|" + "---:|" * len(hts))
        w("| host run: CPUs the bench got | " +
          " | ".join("-" if cpus_used(host, t) is None else f"{cpus_used(host, t):.2f}"
                     for t in hts) + " |")
        w("")
    w("Raw data: results/vm/ (per boot: data.log, console.log, schedstat.txt, meta.txt; "
      "host/: the host run's full pvlock-bench output; vm.csv: every cell above with "
      "its min..max).\n")
    os.makedirs(docs, exist_ok=True)
    open(os.path.join(docs, "vm-results.md"), "w").write("\n".join(md))

    with open(os.path.join(out, "vm.csv"), "w", newline="") as fcsv:
        c = csv.writer(fcsv)
        c.writerow(["lock", "vcpus", "pcpus", "threads", "guest_acq_per_s", "guest_min",
                    "guest_max", "host_acq_per_s", "guest_vcsw_per_s", "guest_ivcsw_per_s",
                    "guest_min_max", "guest_steals_per_s", "date", "commit", "machine"])
        made = [study.get("date", ""), study.get("commit", "unknown"), study.get("machine", "")]
        c.writerows(row + made for row in rows_csv)

    plot(out, docs, locks, vlist, P, gs, host)


def plot(out, docs, locks, vlist, P, gs, host):
    if subprocess.run(["sh", "-c", "command -v gnuplot"], capture_output=True).returncode:
        print("report: gnuplot is not installed: no plot", file=sys.stderr)
        return
    dat = os.path.join(out, "plot.dat")
    with open(dat, "w") as f:
        for mult in (1, 2):
            for l, _ in locks:
                f.write(f"# {l} threads={mult}xV\n")
                for v in vlist:
                    gr = gs[v]["sums"].get((l, mult * v))
                    hr = host.get((l, mult * v))
                    ga = num(gr, "acq_per_s_median") if gr else None
                    ha = num(hr, "acq_per_s_median") if hr else None
                    f.write(f"{vlist.index(v) + 1} {ga if ga else 'NaN'} {ha if ha else 'NaN'}\n")
                f.write("\n\n")
    n = len(locks)
    colors = ["#d62728", "#ff9896", "#1f77b4", "#aec7e8", "#8c564b", "#2ca02c",
              "#98df8a", "#7f7f7f", "#9467bd", "#e377c2", "#17becf"]
    gp = [f"set terminal pngcairo noenhanced size 1500,620 font ',10'",
          f"set output '{os.path.join(docs, 'vm-throughput.png')}'",
          "set multiplot layout 1,2",
          "set logscale y", "set format y '%.0s%c'", "set grid",
          f"set xrange [0.7:{len(vlist) + 0.3}]",
          "set xtics (" + ", ".join(f"'{v / P:g} ({v} vCPUs)' {i + 1}"
                                    for i, v in enumerate(vlist)) + ")",
          f"set xlabel 'vCPUs per host CPU (V/P, P = {P})'",
          "set ylabel 'acquisitions/s (guest: solid; host, same threads: dashed)'",
          "set key outside right top font ',9'"]
    for mult, title in ((1, "threads = vCPUs (the seeds' case)"),
                        (2, "threads = 2 x vCPUs")):
        gp.append(f'set title "{title}"')
        parts = []
        for i, (l, lab) in enumerate(locks):
            idx = (mult - 1) * n + i
            c = colors[i % len(colors)]
            lw = 4 if l == "pv-queued" else 2
            parts.append(f"'{dat}' index {idx} using 1:2 with linespoints lw {lw} pt {i % 13 + 1} "
                         f"ps 1.3 lc rgb '{c}' title '{lab}'")
            parts.append(f"'{dat}' index {idx} using 1:3 with lines dt 2 lw 1 lc rgb '{c}' notitle")
        gp.append("plot " + ", \\\n  ".join(parts))
    gp.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True,
                       capture_output=True)
    if r.returncode:
        print("report: gnuplot failed:\n" + r.stderr, file=sys.stderr)


if __name__ == "__main__":
    main()
