import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'packages/*/dist/', 'node_modules/', 'data/', '.tap/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': ['error', { allow: ['error'] }]
    }
  },
  { files: ['scripts/**', 'test/**'], rules: { 'no-console': 'off' } },
  // The examples and the package's build step are plain Node.js modules (the examples as a downstream team would write them).
  {
    files: ['examples/**/*.mjs', 'k8s/examples/**/*.mjs', 'packages/*/scripts/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', URLSearchParams: 'readonly', fetch: 'readonly', Buffer: 'readonly' } },
    rules: { 'no-console': 'off' }
  }
)
