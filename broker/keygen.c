/*  parley-keygen: make a CURVE certificate for one Parley process.
    The one thing to know: it writes CZMQ certificates (zcert_save): FILE holds the
    public key and may be handed out; FILE_secret holds both keys, is made mode 0600
    and stays with the process whose BUS_CERT_FILE names FILE. With --allow DIR the
    public certificate is also copied into DIR, the broker's BUS_CLIENT_KEYS_DIR.

      parley-keygen [--name NAME] [--allow DIR] [--force] FILE

    Prints the public key (Z85) on stdout. Exit 0, 1 on failure, 2 on a usage error. */
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
                    "  writes FILE (public certificate) and FILE_secret (both keys, mode 0600);\n"
                    "  --allow DIR  also copy the public certificate into DIR (the broker's\n"
                    "               BUS_CLIENT_KEYS_DIR)\n"
                    "  --force      replace existing files\n");
    return 2;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"allow", required_argument, NULL, 'a'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *name = NULL, *allow = NULL;
    int force = 0, c;
    while ((c = getopt_long(argc, argv, "n:a:fh", opts, NULL)) != -1) {
        if (c == 'n')
            name = optarg;
        else if (c == 'a')
            allow = optarg;
        else if (c == 'f')
            force = 1;
        else
            return usage();
    }
    if (optind != argc - 1)
        return usage();
    const char *file = argv[optind];
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
