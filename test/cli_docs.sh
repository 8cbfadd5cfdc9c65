#!/usr/bin/env bash
# The documentation's commands and links are real (no training, a few seconds):
# - every line of a fenced code block in README.md and docs/*.md that runs `clvae COMMAND ...`
#   (also build/clvae, under mpirun) names a command that `clvae COMMAND --help` accepts, and
#   every --flag after the command appears in that help text;
# - every link to a .md file (`[text](page.md#anchor)`, relative to the page) and every plain
#   `docs/NAME.md` mention resolves to a file, and an #anchor to a heading of that file.
# By hand: CLVAE_BIN=build/clvae CLVAE_SRC=. bash test/cli_docs.sh
. "${CLVAE_SRC:?}/test/cli_common.bash"; cli_begin cli_docs
[ -x "$BIN" ] || { echo "FAIL: CLVAE_BIN ($BIN) is not an executable"; exit 1; }
cd "$SRC" || exit 1
pages=(README.md docs/*.md)

# 1. Commands in code blocks: "FILE:LINE: TEXT" for every line whose first word is clvae (or
#    ends in /clvae), or that starts with mpirun and runs clvae.
awk '/^[ \t]*```/ { inb = !inb; next }
     inb && /^[ \t]*(mpirun[^#]*[ \t])?[^ \t]*clvae[ \t]+[a-z]/ { print FILENAME ":" FNR ": " $0 }' "${pages[@]}" \
  >"$TMP/calls.txt"
ncalls=0
while IFS= read -r line; do
  where=${line%%: *}; text=${line#*: }
  text=${text%%  #*}                                  # drop a trailing "  # comment"
  rest=$(sed -E 's/^(.*[ \t\/])?clvae[ \t]+//' <<<" $text")
  cmd=${rest%% *}
  [[ $cmd =~ ^[a-z][a-z-]*$ ]] || continue
  ncalls=$((ncalls+1))
  help=$TMP/help-$cmd.txt
  [ -f "$help" ] || "$BIN" "$cmd" --help >"$help" 2>&1 || { bad "$where: 'clvae $cmd' is not a command"; : >"$help"; continue; }
  for f in $(grep -oE '(^|[ \t\[])--[a-z][a-z0-9-]*' <<<"${rest#"$cmd"}" | tr -d ' \t['); do
    grep -qE -- "$f([^a-z0-9-]|$)" "$help" && ok || bad "$where: clvae $cmd has no $f (not in 'clvae $cmd --help')"
  done
done <"$TMP/calls.txt"
[ "$ncalls" -ge 20 ] && ok || bad "found only $ncalls clvae command lines in README.md and docs/ (the extraction broke?)"

# 2. Links. A GitHub anchor: the heading, lower case, punctuation but - and _ dropped, spaces as -.
anchors() { sed -n 's/^#\{1,6\} \(.*\)/\1/p' "$1" | tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'; }
nlinks=0
for p in "${pages[@]}"; do
  dir=$(dirname "$p")
  for l in $(grep -oE '\]\([^) ]+\.md(#[^) ]*)?\)' "$p" | sed -E 's/^\]\(//; s/\)$//'); do
    case $l in http*) continue ;; esac
    nlinks=$((nlinks+1))
    file=${l%%#*}; target=$dir/$file
    [ -f "$target" ] && ok || { bad "$p: link $l: no file $target"; continue; }
    if [[ $l == *#* ]]; then
      anchors "$target" | grep -qx -- "${l#*#}" && ok || bad "$p: link $l: no heading for #${l#*#} in $target"
    fi
  done
  for d in $(grep -oE '(^|[^a-zA-Z0-9_./-])docs/[A-Za-z0-9_-]+\.md' "$p" | grep -oE 'docs/.*'); do
    nlinks=$((nlinks+1))
    [ -f "$d" ] && ok || bad "$p: mentions $d, which does not exist"
  done
done
[ "$nlinks" -ge 20 ] && ok || bad "found only $nlinks links to docs pages (the extraction broke?)"
echo "checked $ncalls command lines and $nlinks links"
cli_end
