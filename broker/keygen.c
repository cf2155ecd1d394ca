/*  parley-keygen: make a CURVE certificate for one Parley process.
    The one thing to know: it writes CZMQ certificates (zcert_save): FILE holds the
    public key and may be handed out; FILE_secret holds both keys, is made mode 0600
    and stays with the process whose BUS_CERT_FILE names FILE. With --allow DIR the
    public certificate is also copied into DIR, the broker's BUS_CLIENT_KEYS_DIR.

      parley-keygen [--name NAME] [--allow DIR] [--force] FILE
      parley-keygen --set DIR SERVER CLIENT...

    The second form makes DIR/NAME.cert for every name that has no pair yet, the
    first name being the broker's and the others' public halves going to
    DIR/clients: a whole stack's keys, safe to run at every start.
    Prints the public keys (Z85) it made on stdout. Exit 0, 1 on failure, 2 on a usage error. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int usage(void)
{
    fprintf(stderr, "usage: parley-keygen [--name NAME] [--allow DIR] [--force] FILE\n"
                    "       parley-keygen --set DIR SERVER CLIENT...\n"
                    "  writes FILE (public certificate) and FILE_secret (both keys, mode 0600);\n"
                    "  --allow DIR  also copy the public certificate into DIR (the broker's\n"
                    "               BUS_CLIENT_KEYS_DIR)\n"
                    "  --force      replace existing files\n"
                    "  --set DIR    DIR/NAME.cert for each NAME without one; the first is the\n"
                    "               broker's, the others are also copied to DIR/clients\n");
    return 2;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Make one certificate: file, file_secret, and a copy of the public half in `allow`
   (NULL: none). Prints the public key. 0, 1 on failure, 2 on a bad path. */
static int make_one(const char *file, const char *name, const char *allow, int force)
{
    char secret[4096], copy[4096], base[4096], parent[4096];
    snprintf(base, sizeof base, "%s", file);
    snprintf(parent, sizeof parent, "%s", file);
    if ((size_t)snprintf(secret, sizeof secret, "%s_secret", file) >= sizeof secret ||
        (allow &&
         (size_t)snprintf(copy, sizeof copy, "%s/%s", allow, basename(base)) >= sizeof copy)) {
        fprintf(stderr, "parley-keygen: path too long\n");
        return 2;
    }
    if (!force && (exists(file) || exists(secret) || (allow && exists(copy)))) {
        fprintf(stderr, "parley-keygen: %s or its copy exists (--force replaces it)\n", file);
        return 1;
    }
    const char *dirs[2] = {dirname(parent), allow};
    for (int i = 0; i < 2; i++)
        if (dirs[i] && zsys_dir_create("%s", dirs[i]) != 0) {
            fprintf(stderr, "parley-keygen: cannot create %s: %s\n", dirs[i], strerror(errno));
            return 1;
        }
    zcert_t *cert = zcert_new();
    if (!cert) {
        fprintf(stderr, "parley-keygen: cannot make a key pair (libzmq without CURVE?)\n");
        return 1;
    }
    if (name)
        zcert_set_meta(cert, "name", "%s", name);
    int rc = zcert_save(cert, file);
    if (rc == 0)
        rc = chmod(secret, 0600); /* whatever the umask: it holds the secret key */
    if (rc == 0 && allow)
        rc = zcert_save_public(cert, copy);
    if (rc != 0)
        fprintf(stderr, "parley-keygen: cannot write %s: %s\n", file, strerror(errno));
    else
        printf("%s\n", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return rc == 0 ? 0 : 1;
}

/* --set DIR SERVER CLIENT...: DIR/NAME.cert for each name that has none yet, the
   clients' public halves in DIR/clients. Kept pairs are left alone, so it can run
   at every start (compose's one-shot keygen service does). */
static int make_set(const char *dir, char **names, int n)
{
    char file[4096], allow[4096];
    if ((size_t)snprintf(allow, sizeof allow, "%s/clients", dir) >= sizeof allow)
        return 2;
    for (int i = 0; i < n; i++) {
        if ((size_t)snprintf(file, sizeof file, "%s/%s.cert", dir, names[i]) >= sizeof file)
            return 2;
        char secret[4096 + 8];
        snprintf(secret, sizeof secret, "%s_secret", file);
        if (exists(file) && exists(secret))
            continue;
        int rc = make_one(file, names[i], i == 0 ? NULL : allow, 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'}, {"allow", required_argument, NULL, 'a'},
        {"set", required_argument, NULL, 's'},  {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *name = NULL, *allow = NULL, *set = NULL;
    int force = 0, c;
    while ((c = getopt_long(argc, argv, "n:a:s:fh", opts, NULL)) != -1) {
        if (c == 'n')
            name = optarg;
        else if (c == 'a')
            allow = optarg;
        else if (c == 's')
            set = optarg;
        else if (c == 'f')
            force = 1;
        else
            return usage();
    }
    if (set)
        return optind < argc ? make_set(set, argv + optind, argc - optind) : usage();
    if (optind != argc - 1)
        return usage();
    return make_one(argv[optind], name, allow, force);
}
