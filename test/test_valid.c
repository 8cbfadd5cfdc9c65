/* The validation split: held-out rows and training rows partition the set, both keep file
 * order, labels move with their rows, the seed picks the rows, and bad counts are refused. */
#include <stdlib.h>
#include <string.h>

#include "clvae/config.h"
#include "clvae/data.h"
#include "clvae/status.h"
#include "testutil.h"
#include "train/valid.h"

#define ROWS 100
#define DIM 3

/* Row r holds (r, r, r) and label r % 7: a row's content says which row it was. */
static void make_set(clvae_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    ds->n = ROWS;
    ds->dim = DIM;
    ds->rows = 1, ds->cols = DIM;
    ds->u8 = malloc(ROWS * DIM);
    ds->labels = malloc(ROWS);
    for (int r = 0; r < ROWS; r++) {
        memset(ds->u8 + r * DIM, r, DIM);
        ds->labels[r] = (uint8_t)(r % 7);
    }
    ds->n_classes = 7;
}

/* Splits with (valid, seed); checks the partition; returns a bitmap of held-out rows. */
static void split(double valid, unsigned long long seed, size_t want, uint8_t *held)
{
    clvae_config c;
    clvae_dataset t;
    clvae_valid v;
    clvae_config_defaults(&c);
    c.data.valid = valid;
    c.train.seed = seed;
    make_set(&t);
    int rc = clvae_valid_split(&c, &t, &v);
    CHECK(rc == CLVAE_OK, "split %g: %s", valid, clvae_last_error());
    CHECK(v.ds.n == want && t.n == ROWS - want, "valid %g: %zu held out, %zu kept", valid, v.ds.n,
          t.n);
    memset(held, 0, ROWS);
    int seen[ROWS] = {0}, order_ok = 1, rows_ok = 1;
    const clvae_dataset *sets[2] = {&v.ds, &t};
    for (int s = 0; s < 2 && rc == CLVAE_OK; s++)
        for (size_t i = 0; i < sets[s]->n; i++) {
            const uint8_t *row = sets[s]->u8 + i * DIM;
            rows_ok &= row[0] == row[2] && sets[s]->labels[i] == row[0] % 7;
            order_ok &= i == 0 || row[0] > sets[s]->u8[(i - 1) * DIM];
            seen[row[0]]++;
            if (s == 0) held[row[0]] = 1;
        }
    int once = 1;
    for (int r = 0; r < ROWS; r++)
        once &= seen[r] == 1;
    CHECK(rc || (once && order_ok && rows_ok), "valid %g: partition %d, file order %d, rows %d",
          valid, once, order_ok, rows_ok);
    clvae_valid_free(&v);
    clvae_dataset_free(&t);
}

int main(void)
{
    uint8_t a[ROWS], b[ROWS], c2[ROWS];
    split(10, 1, 10, a);
    split(10, 1, 10, b);
    CHECK(memcmp(a, b, ROWS) == 0, "same seed, same rows");
    split(10, 2, 10, c2);
    CHECK(memcmp(a, c2, ROWS) != 0, "seeds 1 and 2 hold out the same rows");
    split(0.25, 1, 25, a);
    split(0.001, 1, 1, a); /* a positive fraction holds out at least one row */
    clvae_config c;
    clvae_dataset t;
    clvae_valid v;
    const double bad[] = {1.5, 100, 0.9999};
    for (int k = 0; k < 3; k++) {
        clvae_config_defaults(&c);
        c.data.valid = bad[k];
        make_set(&t);
        int rc = clvae_valid_split(&c, &t, &v);
        CHECK(rc == CLVAE_ERR_CONFIG && strstr(clvae_last_error(), "[data] valid"),
              "valid = %g: rc %d %s", bad[k], rc, clvae_last_error());
        CHECK(t.n == ROWS && v.ds.n == 0 && !v.ds.u8, "valid = %g left the set alone", bad[k]);
        clvae_dataset_free(&t);
    }
    clvae_config_defaults(&c); /* valid = 0: no split, nothing allocated */
    make_set(&t);
    CHECK(clvae_valid_split(&c, &t, &v) == CLVAE_OK && v.ds.n == 0 && t.n == ROWS, "no split");
    clvae_dataset_free(&t);
    return tu_finish("test_valid");
}
