/* The conv items of [model] encoder / decoder / decoder_out: parsing into clvae_item, writing
 * back through config.ini (the same bytes after a round trip), and every bad item a user can
 * write answered with a message naming the key and what is wrong (contract.md "Wave 3"). */
#include <stdio.h>
#include <string.h>

#include "clvae/config.h"
#include "clvae/status.h"
#include "testutil.h"

static int has(const char *s, const char *part)
{
    return strstr(s, part) != NULL;
}

static void set_ok(clvae_config *c, const char *a)
{
    int st = clvae_config_set(c, a);
    CHECK(st == CLVAE_OK, "--set %s: %s", a, clvae_last_error());
}

/* --set must fail (or the whole config's validation), naming `part`. */
static void bad(const char *enc, const char *dec, const char *out, const char *part)
{
    clvae_config c;
    clvae_config_defaults(&c);
    char a[512];
    int st = CLVAE_OK;
    const char *keys[] = {"encoder", "decoder", "decoder_out"}, *vals[] = {enc, dec, out};
    for (int i = 0; i < 3 && !st; i++) {
        if (!vals[i]) continue;
        snprintf(a, sizeof a, "model.%s=%s", keys[i], vals[i]);
        st = clvae_config_set(&c, a);
    }
    if (!st) st = clvae_config_validate(&c);
    CHECK(st == CLVAE_ERR_CONFIG, "%s / %s / %s: accepted", enc, dec, out);
    CHECK(has(clvae_last_error(), part), "message lacks '%s': %s", part, clvae_last_error());
}

static void check_parse(void)
{
    clvae_config c;
    clvae_config_defaults(&c);
    set_ok(&c, "model.encoder=conv 32 k4 s2 p1, conv 64 k3x2 s2 p0x1 d2 bn tanh, 100");
    set_ok(&c, "model.decoder=512x2x2 identity, convt 32 k3 s2 p1 o1 bn leaky_relu");
    set_ok(&c, "model.decoder_out=convt k4 s2 p1");
    set_ok(&c, "model.activation=leaky_relu");
    const clvae_widths *e = &c.model.encoder[0], *d = &c.model.decoder[0];
    CHECK(e->n == 3 && e->w[0] == 32 && e->w[1] == 64 && e->w[2] == 100, "encoder widths");
    const clvae_item *a = &e->item[0], *b = &e->item[1];
    CHECK(a->kind == CLVAE_ITEM_CONV && a->k[0] == 4 && a->k[1] == 4 && a->s[0] == 2 &&
              a->p[1] == 1 && a->d[0] == 1 && !a->bn && !a->has_act, "item 1");
    CHECK(b->k[0] == 3 && b->k[1] == 2 && b->p[0] == 0 && b->p[1] == 1 && b->d[1] == 2 && b->bn &&
              b->has_act && b->act == CLVAE_ACT_TANH, "item 2");
    CHECK(e->item[2].kind == CLVAE_ITEM_DENSE, "item 3 dense");
    CHECK(d->n == 2 && d->item[0].kind == CLVAE_ITEM_VIEW && d->w[0] == 2048 &&
              d->item[0].has_act && d->item[0].act == CLVAE_ACT_IDENTITY, "view item");
    CHECK(d->item[1].kind == CLVAE_ITEM_CONVT && d->item[1].o[0] == 1 && d->item[1].bn &&
              d->item[1].act == CLVAE_ACT_LEAKY_RELU, "convt item");
    CHECK(c.model.decoder_out.kind == CLVAE_ITEM_CONVT && c.model.decoder_out.channels == 0 &&
              c.model.decoder_out.k[0] == 4, "decoder_out");
    CHECK(c.model.activation == CLVAE_ACT_LEAKY_RELU && c.model.leaky_slope == 0.01, "activation");
    CHECK(clvae_config_validate(&c) == CLVAE_OK, "valid: %s", clvae_last_error());
    /* config.ini round trip: the same struct, byte for byte */
    const char *path = tu_tmp_path("conv_config.ini");
    CHECK(clvae_config_write(&c, path) == CLVAE_OK, "write: %s", clvae_last_error());
    clvae_config r;
    clvae_config_defaults(&r);
    CHECK(clvae_config_load(&r, path) == CLVAE_OK, "load: %s", clvae_last_error());
    CHECK(memcmp(&r.model, &c.model, sizeof r.model) == 0, "model section differs after a round trip");
    /* the default dense config is untouched by the new fields */
    clvae_config dflt;
    clvae_config_defaults(&dflt);
    CHECK(dflt.model.decoder_out.kind == CLVAE_ITEM_DENSE && dflt.model.encoder[0].item[0].kind ==
              CLVAE_ITEM_DENSE, "defaults are dense");
}

static void check_errors(void)
{
    bad("conv 32 k4 s2 p1 q3", NULL, NULL, "unknown word \"q3\"");
    bad("conv 32 s2 p1", NULL, NULL, "kernel");
    bad("conv k4", NULL, NULL, "output channels");
    bad("conv 32 k0", NULL, NULL, "zero or negative size");
    bad("conv 0 k3", NULL, NULL, "channels");
    bad("conv 32 k3 s0", NULL, NULL, "zero or negative size");
    bad("400 bn", NULL, NULL, "bn on a dense item");
    bad(NULL, "64x7x7 bn, convt 1 k3", NULL, "bn on a dense item");
    bad("-5", NULL, NULL, "zero or negative size");
    bad("0", NULL, NULL, "zero or negative size");
    bad("conv 32 k3 o1", NULL, NULL, "convt only");
    bad(NULL, "64x7x7, convt 32 k4 s2 p1 o2", "convt k4 s2 p1", "smaller than the stride");
    bad("wide 32", NULL, NULL, "unknown item \"wide\"");
    bad("conv 32 k3 k4", NULL, NULL, "repeats");
    bad("400, conv 32 k3", NULL, NULL, "segment whose input is a vector");
    bad(NULL, "convt 32 k4 s2 p1", "convt k4", "segment whose input is a vector");
    bad(NULL, "64x7x7, convt 32 k4 s2 p1", NULL, "decoder_out must be a conv");
    bad(NULL, "400", "convt k4 s2 p1", "ends in a vector");
    bad(NULL, NULL, "pool k2", "neither dense nor");
    bad("64x7x7", NULL, NULL, "view belongs in the decoder");
    /* the key is named in --set's message */
    clvae_config c;
    clvae_config_defaults(&c);
    CHECK(clvae_config_set(&c, "model.encoder=conv 8 k3 zz") == CLVAE_ERR_CONFIG &&
              has(clvae_last_error(), "encoder must be"),
          "message names the key: %s", clvae_last_error());
}

int main(void)
{
    check_parse();
    check_errors();
    return tu_finish("test_conv_config");
}
