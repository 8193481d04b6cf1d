// Tamarin demo script. It is stored next to app.js.br and app.js.gz: a browser that accepts Brotli or gzip
// receives one of those files as is, and this script reports which one arrived. After editing, regenerate them:
//   node -e "const z=require('zlib'),f=require('fs'),s=f.readFileSync('app.js');f.writeFileSync('app.js.gz',z.gzipSync(s,{level:9}));f.writeFileSync('app.js.br',z.brotliCompressSync(s))"
(async () => {
  const line = document.getElementById('js-check');
  if (!line) return;
  try {
    const response = await fetch('/app.js', { method: 'HEAD' });
    const encoding = response.headers.get('content-encoding');
    line.textContent = encoding
      ? `app.js ran. It arrived precompressed (Content-Encoding: ${encoding}), straight from app.js.${encoding === 'br' ? 'br' : 'gz'}.`
      : 'app.js ran. It arrived uncompressed: this browser did not ask for br or gzip.';
  } catch {
    line.textContent = 'app.js ran.';
  }
})();
