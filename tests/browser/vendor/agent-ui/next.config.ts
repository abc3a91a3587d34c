import type { NextConfig } from 'next'

const nextConfig: NextConfig = {
  devIndicators: false
}

export default nextConfig
