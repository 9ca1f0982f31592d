/*
 * nft: the --update-nft-domain-set one-shot mode.  It resolves a control
 * plane's host name and replaces the elements of one or two existing nft
 * named sets (IPv4 and IPv6) with the answers, in a single atomic
 * `nft -f -` transaction, so a server-rendered firewall script can roll
 * back on any non-zero exit.
 *
 * The pure parts (validation, address canonicalisation, the answer rules,
 * the batch text) are exported for the tests.  Nothing here keeps state;
 * nft_run() owns everything it creates and frees it before returning.
 */
#ifndef NFT_H
#define NFT_H

#include <stddef.h>

#include "resolve.h"
#include "util.h"

struct event_base;

#define NFT_HOST_SIZE	254		/* 253 characters and the NUL */
#define NFT_DEFAULT_BIN	"/usr/sbin/nft"
#define NFT_DEFAULT_FAMILY "inet"

/* Exit statuses of the mode, as the firewall scripts expect them. */
#define NFT_EXIT_OK	0
#define NFT_EXIT_FAIL	1		/* resolution or nft failed */
#define NFT_EXIT_USAGE	2		/* bad arguments, nothing was run */

struct nft_args {
	const char	*host;
	const char	*family;	/* NULL: "inet" */
	const char	*table;
	const char	*set;		/* IPv4 set; NULL or "": none */
	const char	*set6;		/* IPv6 set; NULL or "": none */
	const char	*nft_bin;	/* NULL: NFT_DEFAULT_BIN; absolute */
};

/*
 * Normalise a host in place of ret_host (NFT_HOST_SIZE bytes): ASCII
 * whitespace trimmed, lower-cased, one trailing dot dropped.  Accepted: a
 * DNS host name (labels of 1-63 letters, digits and hyphens, not starting
 * or ending with a hyphen, at most 253 characters, last label not all
 * digits, no underscore) or an IPv4/IPv6 literal (written back in its
 * canonical form).  Returns 0, or -1 with a message in errbuf.
 */
int	 nft_host_normalise(const char *host, char *ret_host, char *errbuf,
	    size_t errlen);
/* 1 if family is inet, ip or ip6. */
int	 nft_family_valid(const char *family);
/* 1 if name matches ^[A-Za-z_][A-Za-z0-9_]{0,63}$ (tables and sets). */
int	 nft_name_valid(const char *name);

/*
 * Check every argument (the host normalised into ret_host, >= NFT_HOST_SIZE
 * bytes).  Pure: no file or network access.  Returns 0, or -1 with one
 * line naming the flag and the fix in errbuf.
 */
int	 nft_validate(const struct nft_args *, char *ret_host, char *errbuf,
	    size_t errlen);

/* Sort both lists by address bytes (numeric order) and drop duplicates. */
void	 nft_addrs_canon(struct resolve_addrs *);

/*
 * The answer rules: -set alone needs an IPv4 address, -set6 alone an IPv6
 * one, both need at least one of either.  Returns 0, or -1 with a message
 * naming host and what was missing.
 */
int	 nft_check_answers(const struct nft_args *, const char *host,
	    const struct resolve_addrs *, char *errbuf, size_t errlen);

/*
 * Append the nft batch to out: per requested set `flush set F T S` then,
 * if it gets addresses, `add element F T S { a, b }`.  args must have
 * passed nft_validate().
 */
void	 nft_batch(struct buf *out, const struct nft_args *,
	    const struct resolve_addrs *);

/*
 * The whole mode on base: validate, resolve, check, apply.  Logs one line
 * on success (counts per family) or one on failure, and returns the exit
 * status (NFT_EXIT_*).
 */
int	 nft_run(struct event_base *, const struct nft_args *);

#endif
