// vaekit explore: images. An example is nested lists [C][H][W] of grey levels in [0, 1] (1 or 3 channels),
// drawn scaled up by a whole factor with nearest-neighbour pixels, so small images stay sharp.
"use strict";
(function () {
  const SIDE = { large: 224, small: 52 };

  function picture(el, x, side) {
    const channels = x.length;
    const h = x[0].length;
    const w = x[0][0].length;
    const scale = Math.max(1, Math.floor(side / Math.max(h, w)));
    let small = el._vaekitSmall;
    if (!small || small.width !== w || small.height !== h) {
      small = document.createElement("canvas");
      small.width = w;
      small.height = h;
      el._vaekitSmall = small;
    }
    const ctx = small.getContext("2d");
    const image = ctx.createImageData(w, h);
    const grey = (v) => Math.round(255 * Math.min(1, Math.max(0, v)));
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const k = 4 * (i * w + j);
        for (let c = 0; c < 3; c++) image.data[k + c] = grey(x[channels >= 3 ? c : 0][i][j]);
        image.data[k + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
    let big = el.querySelector("canvas");
    if (!big || big.width !== w * scale || big.height !== h * scale) {
      big = document.createElement("canvas");
      big.width = w * scale;
      big.height = h * scale;
      el.replaceChildren(big);
    }
    const out = big.getContext("2d");
    out.imageSmoothingEnabled = false;
    out.drawImage(small, 0, 0, big.width, big.height);
  }

  vaekit.registerView({
    draw(el, x, opts) {
      picture(el, x, SIDE[opts.size] || SIDE.large);
    },
  });
})();
