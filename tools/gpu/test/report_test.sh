#!/usr/bin/env bash
# tools/gpu/report.py on a fixed fixture (fixture/: the files check.sh leaves
# in OUT, with round numbers: 4 GPUs, two NVLink pairs, layouts 4x1 and 2x2
# measured, 1x4 out of time): the printed report must equal expected.txt
# byte for byte, gpu_check.json must hold the same figures, and a skipped or
# missing nccl_pairs run must be reported as such. On a machine without a
# GPU it also checks that check.sh says so and exits 3. Needs python3 (not a
# ctest dependency, so not registered there): run it as
#   bash tools/gpu/test/report_test.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/gpu-report-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "report_test: FAIL: $*" >&2; exit 1; }

cp -r "$here/fixture" "$tmp/out"
python3 "$here/../report.py" "$tmp/out" "NVIDIA H100 80GB HBM3" f16 >"$tmp/stdout.txt"
sed "s|$tmp/out|OUT|" "$tmp/stdout.txt" | diff -u "$here/expected.txt" - || fail "report differs from expected.txt"

python3 - "$tmp/out/gpu_check.json" <<'PY' || fail "gpu_check.json"
import json, sys
r = json.load(open(sys.argv[1]))
assert abs(r["runs"]["batch1"]["it_per_s"] - 16.0) < 1e-12
p = r["nccl_pairs"]
assert p["matrix_bytes"] == 64 * 2**20 and p["profile"] == "h100" and p["profile_link_gbps"] == 360
assert p["busbw_gbps"][0][0] is None and abs(p["busbw_gbps"][0][1] - 64 * 2**20 / 400e-6 / 1e9) < 1e-9
assert abs(p["busbw_gbps"][0][2] - p["busbw_gbps"][0][1] / 2) < 1e-9
assert [s["pairs"] for s in p["per_size"]] == [12, 12] and p["wrong_bytes"] == 0
l = {(x["pipelines"], x["stages"]): x for x in r["layouts"]}
assert sorted(l) == [(1, 4), (2, 2), (4, 1)]
assert l[(1, 4)]["status"].startswith("skipped: out of time budget") and "measured" not in l[(1, 4)]
assert l[(2, 2)]["measured"]["state_bytes_per_step"] == l[(2, 2)]["plan"]["send_bytes_per_step"]
assert l[(2, 2)]["sim_run"]["images_per_s"] == 6.25
PY

# nccl_pairs on a node with one GPU, and not run at all.
printf '{"host": "node1", "devices": [], "results": [], "skipped": "1 visible CUDA device; pair bandwidth needs 2 or more"}\n' \
  >"$tmp/out/nccl_pairs.json"
python3 "$here/../report.py" "$tmp/out" "NVIDIA H100 80GB HBM3" f16 >"$tmp/stdout.txt"
grep -qx "NCCL pairs: skipped (1 visible CUDA device; pair bandwidth needs 2 or more)" "$tmp/stdout.txt" ||
  fail "skipped nccl_pairs"
rm "$tmp/out/nccl_pairs.json" && rm -r "$tmp/out/layouts"
python3 "$here/../report.py" "$tmp/out" "NVIDIA H100 80GB HBM3" f16 >"$tmp/stdout.txt"
grep -qx "NCCL pairs: not run (see nccl_pairs.txt)" "$tmp/stdout.txt" || fail "missing nccl_pairs"
! grep -q "P x S" "$tmp/stdout.txt" || fail "a P x S table without layouts"

if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  rc=0
  bash "$here/../check.sh" --out "$tmp/check" 2>"$tmp/check.txt" || rc=$?
  ((rc == 3)) || fail "check.sh without a GPU exited $rc, expected 3"
  grep -q "no CUDA device found" "$tmp/check.txt" || fail "check.sh without a GPU did not say so"
fi
echo "report_test: OK"
