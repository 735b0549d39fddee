// exp_accurate(x): exp within about 1 ulp, for shaders whose bound Vulkan's exp() cannot meet
// (its precision is 3 + 2|x| ulp): DeltaNet's decays (recurrent.comp) and conv1d's SiLU tails.
// exp(x) within about 1 ulp, dn_exp of recurrent.cl: Vulkan's exp() may be off by 3 + 2|x| ulp,
// and lavapipe's is off by a few ulp right where decays live (g near 0: exp(g) near 1); that error
// recurs every token and compounds in the state (1.5e-6 relative L2 after 64 tokens of
// g ~ -1e-4, measured). Cody-Waite reduction x = n ln2 + r, |r| <= ln2 / 2 (n * 0.693145751953125
// is exact: 16 significant bits times |n| < 2^8), Taylor to degree 7 (truncation below 6e-9
// relative), then scale by 2^n.
float exp_accurate(float x) {
  if ((floatBitsToUint(x) & 0x7FFFFFFFu) > 0x7F800000u) return x; // NaN
  if (x < -104.0) return 0.0;
  if (x > 88.75) return uintBitsToFloat(0x7F800000u);
  const float n = round(x * 1.44269504);
  const float r = (x - n * 0.693145751953125) - n * 1.428606765330187e-6;
  float p = 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  return ldexp(p, int(n));
}
