# Reads a NoCloud meta-data file and a #cloud-config user-data file (the subset Heorot writes: hostname,
# fqdn, users[].name/shell/ssh_authorized_keys, write_files[].path/permissions/content with literal blocks)
# and prints a plan the guest's /init applies:
#   HOSTNAME <name> | USER <name> <shell> | KEY <user> <key...> | FILE <src> <perm> <path>
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
function unq(s) { s = trim(s); if (s ~ /^".*"$/ || s ~ /^'.*'$/) s = substr(s, 2, length(s) - 2); return s }
function indent(s) { match(s, /^ */); return RLENGTH }
function val(t) { sub(/^[^:]*:/, "", t); return unq(t) }
function flushfile(   src) {
  if (fpath != "") {
    nf++; src = out "/file" nf
    sub(/\n+$/, "\n", fbuf)
    printf "%s", fbuf > src; close(src)
    print "FILE", src, (fperm == "" ? "0644" : fperm), fpath
  }
  fpath = ""; fperm = ""; fbuf = ""
}
function flushuser(   i) {
  if (uname != "") {
    print "USER", uname, (ushell == "" ? "/bin/sh" : ushell)
    for (i = 1; i <= nk; i++) print "KEY", uname, keys[i]
  }
  uname = ""; ushell = ""; nk = 0; sub_ = ""
}
FNR == 1 { flushfile(); flushuser(); section = ""; inblock = 0; item = -1 }
FILENAME ~ /meta-data$/ { if ($0 ~ /^local-hostname:/) mhost = val($0); next }
{
  line = $0; sub(/\r$/, "", line)
  if (inblock) {
    if (line ~ /^[ \t]*$/) { fbuf = fbuf "\n"; next }
    if (indent(line) > keycol) { if (bind < 0) bind = indent(line); fbuf = fbuf substr(line, bind + 1) "\n"; next }
    inblock = 0
  }
  if (line ~ /^[ \t]*#/ || line ~ /^[ \t]*$/) next
  ind = indent(line); t = trim(line)
  if (ind == 0) {
    flushfile(); flushuser(); item = -1
    section = t; sub(/:.*/, "", section)
    if (section == "hostname") uhost = val(t)
    next
  }
  col = ind
  if (t ~ /^- /) {
    if (item < 0) item = ind
    if (ind == item) {
      if (section == "users") flushuser()
      if (section == "write_files") flushfile()
      t = trim(substr(t, 3)); col = ind + 2
    }
  }
  if (section == "users") {
    if (t ~ /^name:/) { uname = val(t); sub_ = "" }
    else if (t ~ /^shell:/) { ushell = val(t); sub_ = "" }
    else if (t ~ /^ssh_authorized_keys:/) sub_ = "keys"
    else if (t ~ /^- / && sub_ == "keys") keys[++nk] = unq(substr(t, 3))
    else if (t ~ /^[A-Za-z_]+:/) sub_ = ""
  } else if (section == "write_files") {
    if (t ~ /^path:/) fpath = val(t)
    else if (t ~ /^permissions:/) fperm = val(t)
    else if (t ~ /^content:/) {
      v = val(t)
      if (v ~ /^\|/) { inblock = 1; keycol = col; bind = -1; fbuf = "" }
      else fbuf = v "\n"
    }
  }
}
END {
  flushfile(); flushuser()
  h = (uhost != "" ? uhost : mhost)
  if (h != "") print "HOSTNAME", h
}
