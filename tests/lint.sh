#!/bin/sh
# House rules that a compiler does not check (STYLE.md):
#  - banned calls: unbounded string functions and atoi-style parsing;
#  - no blocking resolver: DNS goes through our own async resolver;
#  - no file over 1,000 lines.
# Prints "lint: N passed, M failed".
cd "$(dirname "$0")/.." || exit 2
pass=0 fail=0

# Drops hits on comment lines: prose may name a banned call to say why.
code_only() { grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)'; }

rule() {
    name=$1 hits=$2
    if [ -n "$hits" ]; then
        printf 'lint: %s:\n%s\n' "$name" "$hits"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
}

rule "banned calls (use snprintf, memcpy with checked lengths, strtol)" \
    "$(grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atoll|gets)[[:space:]]*\(' src tests --include='*.[ch]' | code_only)"
rule "blocking resolver calls (use dns.c)" \
    "$(grep -rnE '\b(getaddrinfo|gethostbyname|gethostbyaddr)[[:space:]]*\(' src --include='*.[ch]' | code_only)"
rule "files over 1,000 lines (split by responsibility)" \
    "$(find src tests -name '*.[ch]' -exec wc -l {} + | awk '$2 != "total" && $1 > 1000 { print "  " $2 " (" $1 " lines)" }')"

echo "lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
