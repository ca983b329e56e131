#!/usr/bin/env bash
# Renames the published packages from `executor*` to `concurrent-futures*` (issue #11, point 9:
# `executor` and `executor-core` are someone else's crates on crates.io). Folders keep their
# names; only package names, dependency keys and the Rust paths derived from them change.
#
# Usage, from anywhere inside the repository:  bash scripts/rename-crates.sh
#
# It is a script rather than a commit because the source keeps changing under parallel work:
# run it again on a merged tree and it renames whatever is new. It is idempotent (a second run
# changes nothing), rewrites tracked files only (`git ls-files`), and ends with `cargo fmt --all`
# (imports re-sort once `executor_core` becomes `concurrent_futures_core`) and a lockfile refresh.
#
# What it deliberately leaves alone:
# - folder paths: `executor-core/src/...`, `members = [...]`, `path = "executor-core"`;
# - names that only start like a crate: `executor_loom` (the cfg), `executor-bench`,
#   `executor_process_worker` (a test function), thread and temp-file names such as
#   `executor-process-worker-{id}`, `rayon_executor`, `crate::executor::` (core's module);
# - types and traits (`Executor`, `RayonExecutor`, `MpiPoolExecutor`) and the English word;
# - `- \`executor\`:` list items, which document the `executor:` field of `conformance_main!`.
# - lines with `package = "concurrent-futures..."`: a dependency deliberately renamed back.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

# Python files never name our crates: their `executor` is a variable. Binary files, the lockfile
# (cargo rewrites it below) and this script (its own patterns would be renamed) are skipped too.
# Symlinks (the crates' LICENSE files) are left as links.
mapfile -t files < <(
  git ls-files -z | tr '\0' '\n' |
    grep -vE '(^|/)Cargo\.lock$|\.(py|svg|png|jpg|gif)$|^scripts/rename-crates\.sh$' |
    while IFS= read -r file; do
      [[ -f $file && ! -L $file ]] && grep -Iq executor "$file" && printf '%s\n' "$file"
    done
)

# One perl pass per file, the whole file at once (-0777) so `members = [...]` spans lines.
# Spans that must not change (folder paths) are swapped for placeholders, the renames run,
# and the placeholders are swapped back. A file is written only if it changed, so a re-run
# leaves mtimes alone and does not make cargo rebuild everything.
((${#files[@]})) || exit 0
perl -0777 -ne '
  my $original = $_;
  my @kept;
  my $keep = sub { push @kept, $_[0]; "\x{1}KEPT" . $#kept . "\x{1}" };
  my $crates = qr/core|threads|process|mpi|testkit/;

  # A dependency renamed back to a short key (`executor = { package = "concurrent-futures" }`,
  # with its `use executor::...` on the same line) is already the renamed form.
  s/^.*\bpackage\s*=\s*"concurrent-futures[^"\n]*".*$/$keep->($&)/gme;

  # Folder paths in manifests (and in manifest snippets inside docs).
  s/\bpath\s*=\s*"[^"\n]*"/$keep->($&)/ge;
  if ($ARGV =~ m{(^|/)Cargo\.toml$}) {
    s/^\s*(default-)?members\s*=\s*\[[^\]]*\]/$keep->($&)/gme;
  }

  # Markdown section headings named after a folder keep the folder and add the package,
  # as `### \`bench\` (\`executor-bench\`, not published)` already does.
  s{^(#+ `)executor-($crates)`(?:( \()(?!`concurrent-futures-)|$)}{
    "${1}executor-${2}` (`concurrent-futures-${2}`" . ($3 ? ", " : ")")
  }gme;

  # Package names: `executor-core` etc., but not `executor-core/...` (a folder), not
  # `executor-process-worker` (a thread name), and not a heading rewritten above.
  s{(?<![\w/.\-])executor-($crates)(?![\w/\-])(?!` \(`concurrent-futures-)}{concurrent-futures-$1}g;
  # The package-name prefix as xtask matches it: `"executor-"`, `format!("executor-{name}")`,
  # and the same in backticks in its docs (`executor-*`).
  s{(?<![\w/.\-])executor-(?=["`\{*])}{concurrent-futures-}g;

  # Features of a dependency in manifests: `"executor-threads/rayon"`, `"executor-mpi?/x"`.
  if ($ARGV =~ m{(^|/)Cargo\.toml$}) {
    s{(?<=")executor-($crates)(?=\??/\w+")}{concurrent-futures-$1}g;
  }

  # Library paths: `executor_core::...`, `use executor_core;`, but not `executor_loom`.
  s{(?<![\w.\-])executor_($crates)\b}{concurrent_futures_$1}g;

  # The facade. Its path `executor::` (not `crate::executor::`, `rayon_executor::`, `x.executor`),
  s{(?<![\w:.\-/\$])executor::}{concurrent_futures::}g;
  # its package name in manifests and dependency lines,
  if ($ARGV =~ m{\.(toml|md)$}) {
    s{\bname\s*=\s*"executor"}{name = "concurrent-futures"}g;
    s{^(\s*)executor(?=\s*=\s*\{|\.workspace\b)}{$1concurrent-futures}gm;
  }
  # and in prose: the README title, `executor` in backticks (not a `- \`executor\`:` field list item).
  s{^# executor$}{# concurrent-futures}gm;
  s{(?<!- )`executor`}{`concurrent-futures`}g;

  s/\x{1}KEPT(\d+)\x{1}/$kept[$1]/g;
  if ($_ ne $original) {
    open my $out, ">", $ARGV or die "$ARGV: $!\n";
    print $out $_;
    close $out or die "$ARGV: $!\n";
  }
' "${files[@]}"

# Package renames reorder the lockfile; let cargo rewrite it (registry versions stay locked).
cargo metadata --format-version 1 >/dev/null
cargo fmt --all
